"""Norm tables: internal consistency, sources, and agreement with the measurement definitions."""

from __future__ import annotations

import pytest

from cephview.analysis import DEFAULT_NORM_SET, NormFileError, available_norm_sets, load_analyses, load_norm_set
from cephview.analysis.norms import _parse_row


@pytest.fixture(params=available_norm_sets())
def norm_set(request):
    return load_norm_set(request.param)


def test_default_norm_set_is_shipped():
    assert DEFAULT_NORM_SET in available_norm_sets()


def test_every_row_has_min_below_mean_below_max_and_a_cited_source(norm_set):
    assert norm_set.rows
    for row in norm_set.rows.values():
        assert row.min < row.mean < row.max, (row.analysis, row.measurement)
        assert row.sd is None or row.sd > 0
        assert row.source and row.source in norm_set.sources
        assert norm_set.sources[row.source].strip()


def test_set_describes_its_population(norm_set):
    assert norm_set.population and norm_set.sex and norm_set.title
    assert norm_set.age_range


def test_every_row_belongs_to_a_defined_measurement_with_the_same_unit(norm_set):
    units = {(m.analysis, m.name): m.unit for a in load_analyses() for m in a.measurements}
    for key, row in norm_set.rows.items():
        assert key in units, key
        assert units[key] == row.unit, key


def test_sd_rows_use_mean_plus_minus_one_sd_as_range(norm_set):
    for row in norm_set.rows.values():
        if row.sd is not None:
            assert row.min == pytest.approx(row.mean - row.sd), row.measurement
            assert row.max == pytest.approx(row.mean + row.sd), row.measurement


def test_table_of_cephalometrics_md_section_3():
    ns = load_norm_set("adult_classic")
    expected = {
        ("Steiner", "SNA"): (82, 2), ("Steiner", "SNB"): (80, 2), ("Steiner", "ANB"): (2, 2),
        ("Steiner", "SN-GoGn"): (32, 5), ("Downs", "Facial angle"): (87.8, 3.6),
        ("Downs", "Convexity"): (0, 5),  # not the facial angle's 87.8 copied by mistake
        ("Downs", "A-B plane"): (-4.6, 3.7), ("Downs", "FH-MP"): (21.9, 5), ("Downs", "Y-axis"): (59.4, 3.8),
        ("Tweed", "FMA"): (25, 5), ("Tweed", "IMPA"): (90, 3), ("Tweed", "FMIA"): (65, 3),
        ("Bjork-Jarabak", "Saddle angle"): (123, 5), ("Bjork-Jarabak", "Articular angle"): (143, 6),
        ("Bjork-Jarabak", "Gonial angle"): (130, 7), ("Bjork-Jarabak", "Bjork sum"): (396, 6),
        ("Eastman", "MMPA"): (27, 5), ("Eastman", "Corrected ANB"): (3, 2),
    }
    for key, (mean, sd) in expected.items():
        row = ns.get(*key)
        assert (row.mean, row.sd) == (mean, sd), key
    ratio = ns.get("Bjork-Jarabak", "Jarabak ratio")
    assert (ratio.min, ratio.max) == (62, 65)
    for key in [("McNamara", "A-Nperp"), ("McNamara", "Pog-Nperp"), ("Eastman", "Corrected ANB"), ("Wits", "AO-BO")]:
        assert ns.get(*key).needs_check, key  # marked (check) in the reference table


def test_unknown_norm_set_names_the_available_ones():
    with pytest.raises(NormFileError, match=DEFAULT_NORM_SET):
        load_norm_set("martian_adults")


@pytest.mark.parametrize("bad", [
    {"mean": 5, "min": 6, "max": 9},  # mean below min
    {"mean": 5, "min": 1, "max": 5},  # mean equal to max
    {"mean": 5, "min": 1, "max": 9, "sd": 0},
    {"mean": 5, "min": 1},  # max missing
])
def test_inconsistent_rows_are_refused(bad):
    row = {"analysis": "Steiner", "measurement": "SNA", "unit": "deg", "source": "x", **bad}
    with pytest.raises(NormFileError):
        _parse_row(row, "test.json")


def test_flag_and_deviation():
    row = load_norm_set().get("Tweed", "FMA")
    assert row.flag(32) == "high" and row.flag(25) == "normal" and row.flag(19.9) == "low"
    assert row.deviation_sd(32) == pytest.approx(1.4)
