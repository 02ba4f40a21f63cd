"""The PDF report: pages, layout inside the paper, DRAFT watermark, and no PHI unless asked."""

from __future__ import annotations

import re
import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from cephview.analysis import available_analyses
from cephview.analysis.report_data import build_report_data, report_points, report_tracings
from cephview.core.annotations import ImageAnnotation, LandmarkAnnotation, LandmarkStatus
from cephview.core.calibration import Calibration, CalibrationSource
from cephview.core.errors import CephviewError
from cephview.core.schema import load_schema
from cephview.gui.report_pdf import BOTTOM, PAGE_H, PAGE_W, render_report_pdf

ISBI = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "isbi2015"
ISBI_IMAGE = ISBI / "RawImage" / "TrainingData" / "001.jpg"
ISBI_SENIOR = ISBI / "AnnotationsByMD" / "400_senior" / "001.txt"
PATIENT = {"name": "Doe^Jane", "id": "PID-98765", "birth_date": "19800101"}
SHOWN_PATIENT = ("Jane Doe", "PID-98765", "1980-01-01")


def annotation_from(points: np.ndarray, name: str, mm: float, ai_every: int = 0) -> ImageAnnotation:
    landmarks = {}
    for i, (code, (x, y)) in enumerate(zip(load_schema("isbi2015").codes, points)):
        status = LandmarkStatus.AI if ai_every and i % ai_every == 0 else LandmarkStatus.ACCEPTED
        landmarks[code] = LandmarkAnnotation(code, float(x), float(y), float(x), float(y), 0.9, status,
                                             model_version="test-model")
    return ImageAnnotation(name, "isbi2015", landmarks, Calibration.isotropic(mm, CalibrationSource.DATASET))


def synthetic_case(ai_every: int = 0) -> tuple[np.ndarray, ImageAnnotation]:
    from cephview.core.synthetic import synthetic_cephalogram, synthetic_pixel_size

    image, points = synthetic_cephalogram(11)
    return image, annotation_from(points, "synthetic.png", synthetic_pixel_size(), ai_every)


def render(tmp_path: Path, image: np.ndarray, ann: ImageAnnotation, analyses=("Steiner", "Downs"),
           include_patient: bool = False, name: str = "report.pdf"):
    data = build_report_data(ann, analyses=list(analyses), image_size=(image.shape[1], image.shape[0]),
                             patient=PATIENT, include_patient=include_patient)
    out = tmp_path / name
    return data, render_report_pdf(data, image, report_points(ann), report_tracings(ann, analyses), out)


def pdf_page_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf))


def pdf_text(path: Path) -> str | None:
    """Text as a reader extracts it (poppler's pdftotext), or None where it is not installed."""
    if shutil.which("pdftotext") is None:
        return None
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


def decompressed_streams(pdf: bytes) -> bytes:
    out = []
    for m in re.finditer(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        try:
            out.append(zlib.decompress(m.group(1)))
        except zlib.error:
            out.append(m.group(1))
    return b"\n".join(out)


def assert_inside_paper(rendered) -> None:
    for t in rendered.texts:
        if t.text == "DRAFT":
            continue
        x, y, w, h = t.rect
        assert 0 <= x and x + w <= PAGE_W + 1e-6, t
        assert 0 <= y and y + h <= PAGE_H - 5, t
        if not t.text.startswith(("cephview ", "page ")):  # all but the footer stay above it
            assert y + h <= BOTTOM + 1e-6, t


@pytest.mark.skipif(not ISBI_IMAGE.is_file(), reason=f"ISBI 2015 image not found at {ISBI_IMAGE}")
def test_isbi_report_has_pages_tracing_and_draft_mark(qapp, tmp_path):
    from cephview.core.datasets.isbi import read_isbi_annotation
    from cephview.core.radiograph import load_radiograph

    radiograph = load_radiograph(ISBI_IMAGE)
    ann = annotation_from(read_isbi_annotation(ISBI_SENIOR), ISBI_IMAGE.name, 0.1, ai_every=3)
    data, rendered = render(tmp_path, radiograph.display, ann)
    pdf = rendered.path.read_bytes()
    assert pdf.startswith(b"%PDF") and rendered.path.stat().st_size > 50_000
    assert rendered.pages == pdf_page_count(pdf) == 2  # image page, then landmarks and two analyses
    assert data.draft and "DRAFT" in rendered.text_on(1) and "DRAFT" in rendered.text_on(2)
    page2 = rendered.text_on(2)
    assert "Landmarks" in page2 and "Steiner analysis" in page2 and "Downs analysis" in page2
    assert "0.1 mm/px" in rendered.text_on(1)
    assert "page 2 of 2" in page2 and "model: test-model" in page2
    assert_inside_paper(rendered)
    text = pdf_text(rendered.path)
    if text is not None:
        assert "SNA" in text and "Sella" in text and "provisional" in text


def test_reviewed_report_has_no_watermark(qapp, tmp_path):
    image, ann = synthetic_case()
    data, rendered = render(tmp_path, image, ann)
    assert not data.draft
    assert not any(t.text == "DRAFT" for t in rendered.texts)
    assert any("All 19 landmarks reviewed" in t.text for t in rendered.texts)


def test_every_analysis_flows_over_pages_without_overflow(qapp, tmp_path):
    image, ann = synthetic_case(ai_every=2)
    _, short = render(tmp_path, image, ann, name="short.pdf")
    _, full = render(tmp_path, image, ann, analyses=available_analyses(), name="full.pdf")
    assert full.pages > short.pages >= 2
    assert full.pages == pdf_page_count(full.path.read_bytes())
    assert_inside_paper(full)
    for page in range(1, full.pages + 1):
        assert f"page {page} of {full.pages}" in full.text_on(page)
    # tables carried over to a new page repeat their header
    for page in range(3, full.pages + 1):
        text = full.text_on(page)
        if "Interpretation" not in text:
            continue
        assert "Measurement" in text


def test_patient_identifiers_only_when_asked(qapp, tmp_path):
    image, ann = synthetic_case()
    _, hidden = render(tmp_path, image, ann, name="hidden.pdf")
    raw = hidden.path.read_bytes()
    streams = decompressed_streams(raw)
    drawn = "\n".join(t.text for t in hidden.texts)
    text = pdf_text(hidden.path)
    for value in [*PATIENT.values(), *SHOWN_PATIENT]:
        assert value not in drawn
        assert value.encode() not in raw and value.encode() not in streams
        assert value.encode("utf-16-be") not in raw
        if text is not None:
            assert value not in text

    _, shown = render(tmp_path, image, ann, include_patient=True, name="shown.pdf")
    drawn = "\n".join(t.text for t in shown.texts)
    assert all(value in drawn for value in SHOWN_PATIENT)  # DICOM's Doe^Jane / 19800101 made readable
    assert "Doe^Jane" not in drawn
    text = pdf_text(shown.path)
    if text is not None:  # proves the check above can see text at all
        assert "PID-98765" in text and "Jane Doe" in text


def test_unwritable_target_is_a_clear_error(qapp, tmp_path):
    image, ann = synthetic_case()
    with pytest.raises(CephviewError, match="cannot write"):
        render(tmp_path / "no" / "such" / "folder", image, ann)
    assert not list(tmp_path.iterdir())
