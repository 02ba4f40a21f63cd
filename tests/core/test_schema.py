"""Landmark sets as data: ISBI 2015 order, Aariz 29, cross-set equivalences, names and hints."""

from __future__ import annotations

import pytest

from cephview.core.errors import CephviewError
from cephview.core.schema import available_schemas, code_mapping, load_schema

ISBI_ORDER = ["S", "N", "Or", "Po", "A", "B", "Pog", "Me", "Gn", "Go", "LIT", "UIT", "UL", "LL", "Sn",
              "PogS", "PNS", "ANS", "Ar"]
AARIZ_ORDER = ["A", "ANS", "B", "Me", "N", "Or", "Pog", "PNS", "Pn", "R", "S", "Ar", "Co", "Gn", "Go", "Po",
               "LPM", "LIT", "LMT", "UPM", "UIA", "UIT", "UMT", "LIA", "Li", "Ls", "N'", "Pog'", "Sn"]


def test_isbi_has_the_19_codes_in_challenge_order():
    schema = load_schema("isbi2015")
    assert schema.codes == ISBI_ORDER and len(schema) == 19
    assert schema.index("Ar") == 18 and schema.landmark("S").name == "Sella"


def test_aariz_has_29_codes_in_official_order():
    schema = load_schema("aariz")
    assert schema.codes == AARIZ_ORDER and len(schema) == 29


@pytest.mark.parametrize("name", ["isbi2015", "aariz"])
def test_every_landmark_has_a_name_and_a_hint_and_unique_code(name):
    schema = load_schema(name)
    assert len(set(schema.codes)) == len(schema)
    for lm in schema.landmarks:
        assert lm.name.strip() and lm.hint.strip() and lm.hint != lm.name


def test_mapping_between_isbi_and_aariz():
    to_aariz = code_mapping("isbi2015", "aariz")
    assert to_aariz["UL"] == "Ls" and to_aariz["LL"] == "Li" and to_aariz["PogS"] == "Pog'"
    assert to_aariz["S"] == "S" and to_aariz["Ar"] == "Ar"
    assert len(to_aariz) == 19  # every ISBI landmark exists in Aariz
    to_isbi = code_mapping("aariz", "isbi2015")
    assert to_isbi["Ls"] == "UL" and to_isbi["Li"] == "LL" and to_isbi["Pog'"] == "PogS"
    assert "Pn" not in to_isbi and "UIA" not in to_isbi
    assert all(to_isbi[v] == k for k, v in to_aariz.items())


def test_unknown_schema_lists_the_available_ones():
    assert {"isbi2015", "aariz"} <= set(available_schemas())
    with pytest.raises(CephviewError, match="isbi2015"):
        load_schema("nonexistent")
    with pytest.raises(KeyError):
        load_schema("isbi2015").index("Pn")
