"""CVM head arithmetic: class weights, the weighted loss and the scores, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cephview.model.cvm_head import UNLABELLED, class_weights, cvm_loss, cvm_scores, labels_of


def test_labels_are_zero_based_and_unknown_is_left_out():
    assert labels_of([1, 6, None, 3]).tolist() == [0, 5, UNLABELLED, 2]


def test_class_weights_give_every_present_stage_the_same_total():
    labels = np.array([0, 0, 0, 1, UNLABELLED, 5])  # 3 x CS1, 1 x CS2, 1 x CS6 among 5 labelled
    w = class_weights(labels, 6)
    assert w.tolist() == pytest.approx([5 / 9, 5 / 3, 0, 0, 0, 5 / 3])
    counts = np.bincount(labels[labels >= 0], minlength=6)
    totals = (w * counts)[counts > 0]
    assert np.allclose(totals, totals[0])


def test_weighted_loss_ignores_unlabelled_images():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [5.0, -5.0]])
    labels = torch.tensor([0, 1, UNLABELLED])
    weights = torch.tensor([1.0, 3.0])
    p0 = math.exp(2) / (math.exp(2) + 1)
    p1 = math.exp(1) / (math.exp(1) + 1)
    expected = (-1.0 * math.log(p0) - 3.0 * math.log(p1)) / (1.0 + 3.0)
    assert cvm_loss(logits, labels, weights).item() == pytest.approx(expected, rel=1e-6)
    assert cvm_loss(logits[2:], labels[2:], weights).item() == 0.0


def test_scores_macro_f1_and_per_stage_recall():
    truth = np.array([0, 0, 1, 1, 2, UNLABELLED])
    pred = np.array([0, 1, 1, 1, 0, 4])
    s = cvm_scores(truth, pred, 6)
    # CS1: tp 1, fp 1, fn 1 -> F1 0.5; CS2: tp 2, fp 1, fn 0 -> 0.8; CS3: tp 0 -> 0
    assert s.macro_f1 == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert s.recall["CS1"] == 0.5 and s.recall["CS2"] == 1.0 and s.recall["CS3"] == 0.0
    assert math.isnan(s.recall["CS4"])
    assert s.accuracy == pytest.approx(3 / 5) and s.count == 5
    assert np.array(s.confusion).sum() == 5


def test_a_classifier_of_the_majority_stage_scores_a_low_macro_f1():
    """Why the scores are macro F1 and recall per stage: accuracy rewards the majority stage."""
    truth = np.array([5] * 8 + [0, 2])
    majority = np.full(10, 5)
    s = cvm_scores(truth, majority, 6)
    assert s.accuracy == 0.8 and s.macro_f1 < 0.35
