"""The progress page of two films: what it prints, page layout, DRAFT while unreviewed."""

from __future__ import annotations

import math
import shutil
import subprocess

import numpy as np
import pytest

from cephview.analysis.superimpose import RigidTransform, superimpose
from cephview.core.annotations import ImageAnnotation, LandmarkAnnotation, LandmarkStatus
from cephview.core.calibration import Calibration, CalibrationSource
from cephview.core.schema import load_schema
from cephview.core.synthetic import synthetic_cephalogram, synthetic_pixel_size
from cephview.gui.report_pdf import BOTTOM, RIGHT
from cephview.gui.report_progress import render_progress_pdf
from cephview.serial_overlay import draw_overlay

CODES = load_schema("isbi2015").codes


def films(status=LandmarkStatus.ACCEPTED):
    image, pts = synthetic_cephalogram(3)
    mm = synthetic_pixel_size()
    head = RigidTransform(4.0, 3.0, -2.0)
    before, after = {}, {}
    for code, (x, y) in zip(CODES, pts):
        dx = 2.0 if code in ("B", "Pog") else 0.0
        before[code] = LandmarkAnnotation(code, float(x), float(y), status=LandmarkStatus.ACCEPTED)
        ax, ay = head.apply((x * mm + dx, y * mm))
        after[code] = LandmarkAnnotation(code, ax / mm, ay / mm, status=status)
    cal = Calibration.isotropic(mm, CalibrationSource.PIXEL_SPACING)
    return image, ImageAnnotation("t0.dcm", "isbi2015", before, cal), ImageAnnotation("t1.dcm", "isbi2015", after, cal)


def test_progress_page_prints_the_changes(qapp, tmp_path):
    image, before, after = films()
    result = superimpose(before, after, analyses=["Steiner", "Tweed"])
    picture = draw_overlay(image, image, result, ["Steiner"], ("t0.dcm (2020-01-01)", "t1.dcm (2023-01-01)"))
    out = tmp_path / "progress.pdf"
    rendered = render_progress_pdf(result, picture, ("t0.dcm (2020-01-01)", "t1.dcm (2023-01-01)"), out)
    assert out.read_bytes().startswith(b"%PDF") and rendered.pages >= 1
    text = "\n".join(t.text for t in rendered.texts)
    assert "S-N superimposition, registered at S" in text
    assert "t0.dcm (2020-01-01)" in text and "t1.dcm (2023-01-01)" in text
    snb = result.measurement("SNB")
    assert f"{snb.change:+.1f}" in text and abs(snb.change) > 0.3
    assert f"{math.hypot(2.0, 0.0):.1f}" in [t.text for t in rendered.texts]  # B moved 2 mm
    assert "DRAFT" not in text
    for t in rendered.texts:  # nothing past the content area but the footer
        x, y, w, h = t.rect
        assert x + w <= RIGHT + 0.01 and (y + h <= BOTTOM + 0.01 or t.text.startswith(("cephview", "page")))
    if shutil.which("pdftotext"):
        extracted = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
        assert "SNB" in extracted and "Landmark movement" in extracted


def test_unreviewed_registration_makes_a_draft(qapp, tmp_path):
    image, before, after = films(LandmarkStatus.AI)
    result = superimpose(before, after, analyses=["Steiner"])
    rendered = render_progress_pdf(result, np.zeros((60, 50), np.uint8), ("a", "b"), tmp_path / "p.pdf")
    assert "DRAFT" in rendered.text_on(1)
    assert "after S, after N" in rendered.text_on(1)


def test_unwritable_folder_is_refused(qapp, tmp_path):
    from cephview.core.errors import CephviewError

    image, before, after = films()
    result = superimpose(before, after, analyses=["Steiner"])
    with pytest.raises(CephviewError, match="cannot write the PDF"):
        render_progress_pdf(result, image, ("a", "b"), tmp_path / "missing" / "p.pdf")
