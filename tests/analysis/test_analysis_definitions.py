"""Measurement definition files: vocabulary, declared landmarks and load-time errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from cephview.analysis import CANONICAL_SCHEMA, FormulaError, available_analyses, get_analysis, load_analyses
from cephview.analysis.definitions import _parse_analysis
from cephview.core.schema import load_schema

ANALYSES = ["Steiner", "Downs", "Tweed", "Bjork-Jarabak", "McNamara", "Eastman", "Wits", "Soft tissue"]
NAMES = {
    "Steiner": {"SNA", "SNB", "ANB", "SN-GoGn", "U1-NA (mm)", "L1-NB (mm)", "U1-SN", "Interincisal"},
    "Downs": {"Facial angle", "Convexity", "A-B plane", "FH-MP", "Y-axis"},
    "Tweed": {"FMA", "IMPA", "FMIA"},
    "Bjork-Jarabak": {"Saddle angle", "Articular angle", "Gonial angle", "Bjork sum", "Jarabak ratio", "S-Go", "N-Me"},
    "McNamara": {"A-Nperp", "Pog-Nperp", "LAFH"},
    "Eastman": {"MMPA", "SN-PP", "Corrected ANB"},
    "Wits": {"AO-BO"},
    "Soft tissue": {"Ls-E line", "Li-E line"},
}


def test_all_analyses_load_in_order():
    assert available_analyses() == ANALYSES


def test_conventional_measurements_are_defined():
    for analysis, names in NAMES.items():
        defined = {m.name for m in get_analysis(analysis).measurements}
        assert names <= defined, analysis


def test_codes_are_canonical_and_units_match_kinds():
    codes = set(load_schema(CANONICAL_SCHEMA).codes)
    for a in load_analyses():
        assert a.reference, a.name
        for m in a.measurements:
            assert set(m.landmarks) <= codes
            assert {"angle": "deg", "distance": "mm", "ratio": "%"}[m.kind] == m.unit
            assert m.description


def _analysis(formula, landmarks, kind="angle", unit="deg", extra=()):
    return {"name": "T", "measurements": [
        {"name": "M", "kind": kind, "unit": unit, "landmarks": landmarks, "formula": formula}, *extra]}


@pytest.mark.parametrize(("data", "message"), [
    (_analysis({"op": "angel", "vertex": "N", "from": "S", "to": "A"}, ["S", "N", "A"]), "unknown op"),
    (_analysis({"op": "angle", "vertex": "N", "from": "S"}, ["S", "N"]), "takes"),
    (_analysis({"op": "angle", "vertex": "N", "from": "S", "to": "A"}, ["S", "N"]), "differ"),
    (_analysis({"op": "angle", "vertex": "N", "from": "S", "to": "Xx"}, ["S", "N", "Xx"]), "not in schema"),
    (_analysis({"op": "angle", "vertex": "N", "from": "S", "to": "A"}, ["S", "N", "A"], "distance", "mm"), "gives a angle"),
    (_analysis({"op": "angle", "vertex": "N", "from": "S", "to": "A"}, ["S", "N", "A"], "angle", "rad"), "measured in deg"),
    (_analysis({"op": "difference", "a": {"op": "distance", "from": "S", "to": "N"},
                "b": {"op": "angle", "vertex": "N", "from": "S", "to": "A"}}, ["S", "N", "A"]), "cannot combine"),
    (_analysis({"op": "ref", "measurement": "M"}, []), "refers to itself"),
    (_analysis({"op": "ref", "measurement": "Q"}, []), "unknown measurement"),
    (_analysis({"op": "signed_distance", "point": "A", "line": ["N", "B"], "positive": "forward"},
               ["A", "N", "B"], "distance", "mm"), "positive"),
    (_analysis({"op": "line_angle", "a": ["S", "N"], "b": ["Go", "Me"], "positive": "cw"}, ["S", "N", "Go", "Me"]),
     "clockwise"),
])
def test_bad_definitions_fail_at_load_time(data, message):
    with pytest.raises(FormulaError, match=message):
        _parse_analysis(data, Path("t.json"))


def test_refs_bring_their_landmarks():
    data = _analysis({"op": "sum", "terms": [{"op": "ref", "measurement": "X"}, 1.5]}, ["S", "N", "A"], extra=[
        {"name": "X", "kind": "angle", "landmarks": ["S", "N", "A"],
         "formula": {"op": "angle", "vertex": "N", "from": "S", "to": "A"}}])
    a = _parse_analysis(data, Path("t.json"))
    pts = {"S": (0.0, 0.0), "N": (1.0, 0.0), "A": (1.0, 1.0)}
    assert a.measurement("M").evaluate(pts) == pytest.approx(91.5)
