"""Scoring against the doctors: the experts' own agreement as the yardstick for a model's error."""

from pathlib import Path

import numpy as np
import pytest

from cephview.core.calibration import Calibration, CalibrationSource
from cephview.core.datasets.base import AnnotatedImage, LandmarkDataset
from cephview.core.schema import load_schema
from cephview.model.evaluate import observer_agreement


def _two_doctor_set(offsets_px: list[tuple[float, float]], mm_per_px: float) -> LandmarkDataset:
    schema = load_schema("isbi2015")
    k = len(schema.codes)
    items = []
    for i, (dx, dy) in enumerate(offsets_px):
        senior = np.column_stack([np.arange(k, dtype=float) * 10 + 100, np.full(k, 200.0 + i)])
        junior = senior + [dx, dy]
        items.append(AnnotatedImage(Path(f"{i:03d}.png"), (senior + junior) / 2,
                                    Calibration.isotropic(mm_per_px, CalibrationSource.PIXEL_SPACING),
                                    {"senior": senior, "junior": junior}))
    return LandmarkDataset(schema, items, "two doctors")


def test_observer_agreement_is_the_junior_scored_against_the_senior():
    # Image 0: the junior 3-4-5 px off everywhere (5 px = 0.5 mm); image 1: 30 px (3 mm) to the right.
    data = _two_doctor_set([(3.0, 4.0), (30.0, 0.0)], mm_per_px=0.1)
    agreement = observer_agreement(data)
    assert agreement is not None and agreement.unit == "mm" and agreement.count == 2
    assert agreement.mre == pytest.approx((0.5 + 3.0) / 2)
    assert agreement.sdr[2.0] == pytest.approx(0.5) and agreement.sdr[4.0] == pytest.approx(1.0)
    assert agreement.per_landmark["S"]["mre"] == pytest.approx(1.75)


def test_no_observer_agreement_with_a_single_annotation():
    data = _two_doctor_set([(3.0, 4.0)], mm_per_px=0.1)
    for item in data.images:
        item.references.clear()
    assert observer_agreement(data) is None


def test_an_image_with_one_doctor_is_scored_against_that_doctor():
    """ISBI-style sets may lack one doctor's file for an image (the reader then uses the other)."""
    from cephview.model.evaluate import _references

    data = _two_doctor_set([(2.0, 0.0), (4.0, 0.0)], mm_per_px=0.1)
    only_senior = data.images[1]
    del only_senior.references["junior"]
    refs = _references(data)
    assert np.allclose(refs["mean"][0], data.images[0].points)
    assert np.allclose(refs["mean"][1], only_senior.references["senior"])
    assert np.isnan(refs["junior"][1]).all() and not np.isnan(refs["junior"][0]).any()
    agreement = observer_agreement(data)
    assert agreement.mre == pytest.approx(0.2)  # image 1 has no pair to compare
