"""The one coordinate conversion, and the private codes: complete, unique, documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cephview.analysis import load_analyses
from cephview.core.schema import available_schemas, load_schema
from cephview.interop import codes
from cephview.interop.dicom_coords import from_dicom, to_dicom

DOC = Path(__file__).resolve().parents[2] / "docs" / "dicom_codes.md"


def test_pixel_centre_is_index_plus_half():
    assert to_dicom(0, 0) == (0.5, 0.5)  # centre of the top-left pixel
    assert to_dicom(10, 20) == (10.5, 20.5)  # column first, like cephview's x
    assert to_dicom(-0.5, -0.5) == (0.0, 0.0)  # cephview's top-left corner is DICOM's origin


@pytest.mark.parametrize("x, y", [(0.0, 0.0), (1934.0, 2399.0), (831.123, 993.456), (-0.5, 12.25)])
def test_conversion_round_trips(x, y):
    assert from_dicom(*to_dicom(x, y)) == pytest.approx((x, y), abs=1e-12)


def test_every_measurement_of_every_analysis_has_a_table_code():
    names = {m.name for a in load_analyses() for m in a.measurements}
    assert names <= set(codes.MEASUREMENT_CODES), sorted(names - set(codes.MEASUREMENT_CODES))


def test_codes_are_unique_and_fit_a_short_string():
    values = list(codes.MEASUREMENT_CODES.values())
    assert len(values) == len(set(values))
    landmark_values = {codes.landmark_concept(s, c).value for s in available_schemas() for c in load_schema(s).codes}
    analysis_values = {codes.analysis_code(a.name) for a in load_analyses()}
    everything = values + sorted(landmark_values) + sorted(analysis_values)
    assert len(everything) == len(set(everything))
    assert all(len(v) <= 16 and re.fullmatch(r"[ -~]+", v) for v in everything)  # SH: 16 chars, no control


def test_equivalent_landmarks_of_two_sets_share_a_code_and_come_back_in_each_set():
    assert codes.landmark_concept("isbi2015", "UL").value == codes.landmark_concept("aariz", "Ls").value == "L-Ls"
    assert codes.landmark_from_concept("L-Ls", "isbi2015") == "UL"
    assert codes.landmark_from_concept("L-Ls", "aariz") == "Ls"
    assert codes.landmark_from_concept("M-SNA", "aariz") is None


def test_unknown_measurement_names_get_a_stable_hash_code():
    assert codes.measurement_code("My angle") == codes.measurement_code("My angle")
    assert re.fullmatch(r"MX-[0-9a-f]{8}", codes.measurement_code("My angle"))


def test_docs_list_every_code():
    text = DOC.read_text(encoding="utf-8")
    expected = set(codes.MEASUREMENT_CODES.values())
    expected |= {codes.landmark_concept(s, c).value for s in available_schemas() for c in load_schema(s).codes}
    expected |= {codes.analysis_code(a.name) for a in load_analyses()}
    expected |= {v for v, _ in codes.STATUS_CODES.values()} | {"C-STATUS", "C-CONF", codes.SCHEME}
    missing = sorted(v for v in expected if f"`{v}`" not in text)
    assert not missing, f"docs/dicom_codes.md lacks {missing}"


def test_interop_imports_neither_qt_nor_torch():
    """The DICOM and PACS layer runs in scripts and servers: no Qt, no torch behind its imports."""
    import subprocess
    import sys

    code = ("import sys, cephview.interop.export, cephview.interop.read_sr, cephview.interop.pacs, "
            "cephview.interop.results; print(sorted(m for m in ('torch', 'PySide6') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[2])
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
