"""Edit helpers of LandmarkAnnotation: the provenance rules the review workflow relies on."""

from __future__ import annotations

import math

import pytest

from cephview.core.annotations import ImageAnnotation, LandmarkAnnotation, LandmarkStatus

S = LandmarkStatus


def predicted(code: str = "S", x: float = 100.0, y: float = 200.0) -> LandmarkAnnotation:
    return LandmarkAnnotation(code).with_prediction(x, y, 0.9, "m1")


def test_prediction_sets_ai_and_final_position():
    lm = predicted()
    assert (lm.x, lm.y, lm.ai_x, lm.ai_y) == (100.0, 200.0, 100.0, 200.0)
    assert lm.status is S.AI and lm.confidence == 0.9 and lm.model_version == "m1"
    assert lm.edited_at is None and lm.correction_px == 0.0


def test_move_with_ai_is_corrected_and_keeps_ai_position():
    lm = predicted().moved_to(103, 204)
    assert lm.status is S.CORRECTED and (lm.x, lm.y) == (103.0, 204.0)
    assert (lm.ai_x, lm.ai_y) == (100.0, 200.0)
    assert lm.correction_px == pytest.approx(5.0)
    assert lm.edited_at is not None


def test_move_without_ai_is_manual():
    lm = LandmarkAnnotation("N", status=S.MISSING).moved_to(10, 20)
    assert lm.status is S.MANUAL and lm.has_position
    assert lm.correction_px is None  # nothing to compare with


def test_accept_copies_ai_position():
    lm = predicted().moved_to(1, 1).accepted()
    assert lm.status is S.ACCEPTED and (lm.x, lm.y) == (100.0, 200.0)
    assert lm.status.trainable
    manual = LandmarkAnnotation("N").moved_to(5, 5)
    assert manual.accepted() == manual  # nothing to accept without an AI position


def test_reset_to_ai():
    lm = predicted().moved_to(150, 250).reset_to_ai()
    assert lm.status is S.AI and (lm.x, lm.y) == (100.0, 200.0)
    assert not lm.status.trainable
    lone = LandmarkAnnotation("N").moved_to(5, 5).reset_to_ai()
    assert lone.status is S.MISSING and not lone.has_position


def test_marked_missing_has_no_position():
    lm = predicted().marked_missing()
    assert lm.status is S.MISSING and not lm.has_position and lm.correction_px is None


@pytest.mark.parametrize("edit", ["moved", "accepted", "missing"])
def test_new_prediction_keeps_reviewed_positions(edit):
    lm = predicted()
    lm = {"moved": lm.moved_to(110, 210), "accepted": lm.accepted(), "missing": lm.marked_missing()}[edit]
    before = (lm.x, lm.y, lm.status)
    again = lm.with_prediction(300, 400, 0.5, "m2")
    assert (again.x, again.y, again.status) == before
    assert (again.ai_x, again.ai_y, again.confidence, again.model_version) == (300.0, 400.0, 0.5, "m2")


def test_new_prediction_replaces_unreviewed_position():
    lm = predicted().with_prediction(300, 400, 0.5, "m2")
    assert (lm.x, lm.y, lm.status) == (300.0, 400.0, S.AI)


def test_untouched_placeholder_takes_prediction():
    ann = ImageAnnotation.empty("a.png", "isbi2015")
    lm = ann.landmarks["S"]
    assert lm.status is S.MISSING and lm.edited_at is None
    got = lm.with_prediction(12, 34, 0.8, "m1")
    assert got.status is S.AI and (got.x, got.y) == (12.0, 34.0)


def test_correction_distance_is_euclidean():
    lm = predicted(x=0, y=0).moved_to(3, -4)
    assert math.isclose(lm.correction_px, 5.0)


def test_image_annotation_rejects_bad_cvm_stage():
    with pytest.raises(ValueError, match="CS1"):
        ImageAnnotation("a.png", "isbi2015", cvm_stage="CS7")


def test_empty_annotation_follows_schema_order():
    ann = ImageAnnotation.empty("a.png", "isbi2015")
    assert [lm.code for lm in ann.ordered()][:2] == ["S", "N"]
    assert not ann.has_prediction
