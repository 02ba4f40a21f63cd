"""Tracing primitives for the overlay."""

from __future__ import annotations

import math

import pytest

from cephview.analysis import available_analyses, tracing_primitives

PTS = {"S": (100.0, 100.0), "N": (170.0, 100.0), "A": (168.0, 150.0), "B": (165.0, 190.0), "Po": (80.0, 120.0),
       "Or": (150.0, 125.0), "Go": (110.0, 170.0), "Me": (160.0, 200.0), "Gn": (165.0, 198.0),
       "Pog": (168.0, 192.0), "LIT": (172.0, 160.0), "LIA": (160.0, 185.0)}


def test_sna_draws_two_arms_and_an_arc_at_nasion():
    prims = tracing_primitives("Steiner", PTS, measurement="SNA")
    kinds = sorted(p.kind for p in prims)
    assert kinds == ["arc", "line", "line"]
    arc = next(p for p in prims if p.kind == "arc")
    assert arc.points == (PTS["N"],) and arc.label == "SNA"
    # start ray towards S (180 deg), sweep to A: |span| equals the angle, here counterclockwise on screen
    assert arc.start_deg == pytest.approx(180.0)
    expected = math.degrees(math.atan2(50, -2))
    assert abs(arc.span_deg) == pytest.approx(180.0 - expected)
    assert 0 < arc.radius < 70


def test_primitives_are_in_image_coordinates_for_left_facing_images():
    mirrored = {c: (1000.0 - x, y) for c, (x, y) in PTS.items()}
    prims = tracing_primitives("Steiner", mirrored, measurement="SNA")
    arc = next(p for p in prims if p.kind == "arc")
    assert arc.points == (mirrored["N"],)


def test_missing_landmarks_draw_nothing_and_duplicates_are_removed():
    assert tracing_primitives("Wits", PTS) == []
    prims = tracing_primitives("Steiner", PTS)
    assert len({p.key() for p in prims}) == len(prims)
    assert {p.measurement for p in prims} >= {"SNA", "SNB", "SN-GoGn"}


def test_signed_distance_draws_line_and_perpendicular_foot():
    prims = tracing_primitives("McNamara", PTS, measurement="A-Nperp")
    perp = next(p for p in prims if p.label == "N-perp")
    seg = next(p for p in prims if p.kind == "segment")
    (x1, y1), (x2, y2) = perp.points
    (ax, ay), (fx, fy) = seg.points
    assert (ax, ay) == PTS["A"]
    # the foot lies on the N-perpendicular, and the perpendicular is at right angles to FH
    assert (fx - x1) * (y2 - y1) - (fy - y1) * (x2 - x1) == pytest.approx(0.0, abs=1e-6)
    fh = (PTS["Or"][0] - PTS["Po"][0], PTS["Or"][1] - PTS["Po"][1])
    assert fh[0] * (x2 - x1) + fh[1] * (y2 - y1) == pytest.approx(0.0, abs=1e-6)
    assert y2 > y1  # drawn downwards from N, over the face


def test_wits_draws_projections():
    pts = dict(PTS, UMT=(120.0, 160.0), LMT=(120.0, 164.0), UPM=(140.0, 163.0), LPM=(140.0, 167.0))
    prims = tracing_primitives("Wits", pts)
    assert {p.label for p in prims if p.kind == "point"} >= {"AO", "BO"}
    assert any(p.kind == "segment" and p.label == "AO-BO" for p in prims)


def test_every_analysis_traces_without_error():
    for name in available_analyses():
        tracing_primitives(name, PTS)
