"""The review's confidence rules on the landmark record: one threshold, one meaning everywhere."""

from __future__ import annotations

import pytest

from cephview.core.annotations import DEFAULT_CHECK_BELOW, ImageAnnotation, LandmarkAnnotation, LandmarkStatus


def ai(code: str, confidence: float | None, x: float = 10.0) -> LandmarkAnnotation:
    return LandmarkAnnotation(code, x, 20.0, x, 20.0, confidence, LandmarkStatus.AI, "m1")


def test_needs_check_only_for_unreviewed_ai_landmarks_below_the_threshold():
    assert DEFAULT_CHECK_BELOW == pytest.approx(0.8)
    assert ai("S", 0.79).needs_check()
    assert not ai("S", 0.81).needs_check()
    assert ai("S", 0.81).needs_check(below=0.9)
    assert not ai("S", None).needs_check()
    corrected = ai("S", 0.2).moved_to(30.0, 40.0)
    assert corrected.status is LandmarkStatus.CORRECTED and not corrected.needs_check()


def test_a_reviewed_landmark_counts_as_certain_and_keeps_the_ai_confidence():
    lm = ai("N", 0.35)
    assert lm.review_confidence == pytest.approx(0.35)
    for reviewed in (lm.moved_to(1.0, 2.0), lm.accepted()):
        assert reviewed.review_confidence == 1.0
        assert reviewed.confidence == pytest.approx(0.35)  # the model's figure stays for its statistics
    assert lm.marked_missing().review_confidence is None


def test_expected_corrections_sums_the_doubt_of_the_unreviewed_ai_landmarks():
    ann = ImageAnnotation("a.png", "isbi2015", {"S": ai("S", 0.9), "N": ai("N", 0.4), "Or": ai("Or", 0.7)})
    assert ann.expected_corrections == pytest.approx(0.1 + 0.6 + 0.3)
    ann.landmarks["N"] = ann.landmarks["N"].moved_to(5.0, 5.0)  # corrected: no longer expected to need work
    assert ann.expected_corrections == pytest.approx(0.1 + 0.3)
    assert ImageAnnotation.empty("b.png", "isbi2015").expected_corrections is None


def test_check_order_runs_from_the_least_to_the_most_confident_unreviewed_landmark():
    ann = ImageAnnotation("a.png", "isbi2015", {
        "S": ai("S", 0.9), "N": ai("N", 0.4), "Or": ai("Or", 0.7), "Po": ai("Po", 0.4), "A": ai("A", 0.1).accepted(),
    })
    assert [lm.code for lm in ann.check_order()] == ["N", "Po", "Or", "S"]  # ties in schema order
