"""Pixel size with its source: ruler, anisotropic spacing, refusal of invalid values."""

from __future__ import annotations

import math

import pytest

from cephview.core.calibration import Calibration, CalibrationSource


def test_ruler_gives_isotropic_spacing():
    cal = Calibration.from_ruler((10, 10), (13, 14), 10.0)  # 5 px apart
    assert cal.row_mm == cal.col_mm == pytest.approx(2.0)
    assert cal.source is CalibrationSource.RULER and cal.is_calibrated
    assert cal.distance_mm((0, 0), (30, 40)) == pytest.approx(100.0)


def test_anisotropic_to_mm_and_distance_keep_rows_and_columns_apart():
    cal = Calibration(row_mm=0.2, col_mm=0.1, source=CalibrationSource.PIXEL_SPACING)
    assert cal.to_mm(10, 10) == pytest.approx((1.0, 2.0))  # x uses columns, y uses rows
    assert cal.distance_mm((0, 0), (10, 0)) == pytest.approx(1.0)
    assert cal.distance_mm((0, 0), (0, 10)) == pytest.approx(2.0)
    assert cal.distance_mm((0, 0), (30, 20)) == pytest.approx(5.0)


def test_uncalibrated_gives_no_mm():
    cal = Calibration.none()
    assert not cal.is_calibrated and cal.source is CalibrationSource.NONE
    assert cal.to_mm(5, 5) == (None, None) and cal.distance_mm((0, 0), (1, 1)) is None
    # a source without values is meaningless: it falls back to none
    assert Calibration(None, None, CalibrationSource.USER).source is CalibrationSource.NONE


@pytest.mark.parametrize("value", [0.0, -0.1, math.nan, math.inf])
def test_invalid_spacing_is_refused(value):
    with pytest.raises(ValueError):
        Calibration(value, 0.1, CalibrationSource.USER)
    with pytest.raises(ValueError):
        Calibration.isotropic(value, CalibrationSource.USER)


def test_half_given_spacing_and_bad_ruler_are_refused():
    with pytest.raises(ValueError):
        Calibration(0.1, None, CalibrationSource.USER)
    with pytest.raises(ValueError, match="one pixel"):
        Calibration.from_ruler((5, 5), (5.2, 5.2), 10.0)
    for distance in (0.0, -5.0, math.nan):
        with pytest.raises(ValueError, match="distance"):
            Calibration.from_ruler((0, 0), (100, 0), distance)


def test_dict_round_trip():
    cal = Calibration(0.12, 0.1, CalibrationSource.DETECTOR)
    assert Calibration.from_dict(cal.to_dict()) == cal
    assert Calibration.from_dict(None) == Calibration.none()
