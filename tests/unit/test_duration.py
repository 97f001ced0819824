import pytest

from metaharness.duration import MAX_SECONDS, format_age, parse_duration


@pytest.mark.parametrize("text, seconds", [
    ("90", 90), ("0.5", 0.5), ("5m", 300), ("2h", 7200), ("1h30m", 5400), ("500ms", 0.5), ("1d", 86400), (" 3s ", 3),
])
def test_durations_accept_plain_seconds_and_units(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "-1", "5x", "m", "1h 30m", "nan", "inf", "1.2.3s", "5m-"])
def test_nonsense_durations_are_refused(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("text", ["1e308", "1e10", "366d", "99999999d", "9" * 400, "-inf", "-0.5"])
def test_durations_beyond_a_year_are_refused_naming_the_limit(text):
    with pytest.raises(ValueError, match="from 0 to a year, 365d"):
        parse_duration(text)


def test_a_year_is_the_longest_duration():
    assert parse_duration("365d") == MAX_SECONDS == 365 * 86400


def test_ages_are_compact():
    assert [format_age(s) for s in (None, 4, 192, 7500, 273600)] == ["-", "4s", "3m12s", "2h05m", "3d04h"]
