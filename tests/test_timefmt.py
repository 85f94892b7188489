import math

import pytest

from race.timefmt import TimeFormatError, format_lap_time, parse_time_s, parse_times_ms


@pytest.mark.parametrize(("text", "seconds"), [
    ("37.900", 37.9), ("2:06.349", 126.349), ("1:32:58.334", 5578.334),
    ("24:00:01.002", 86401.002), ("26:01:02.003", 93662.003), ("6:01'01.299", 21661.299),
    ("1'31.159", 91.159), (" 45.1 ", 45.1), ("45.12", 45.12), ("1:02:03", 3723.0),
    ("0:37.900", 37.9), ("59.999", 59.999),
])
def test_parses_every_format_exactly(text: str, seconds: float) -> None:
    assert parse_time_s(text) == seconds
    assert parse_times_ms([text])[0] == round(seconds * 1000)


@pytest.mark.parametrize("text", ["", "   ", None])
def test_empty_is_none(text: str | None) -> None:
    assert parse_time_s(text) is None


@pytest.mark.parametrize("text", ["abc", "1:2:3:4.5", "12.3456", "-5.0", "1:xx.000", "1.2.3"])
def test_rejects_garbage(text: str) -> None:
    with pytest.raises(TimeFormatError):
        parse_time_s(text)


def test_vector_reports_positions() -> None:
    with pytest.raises(TimeFormatError) as info:
        parse_times_ms(["1:00.000", "", "bad", "2.0"])
    assert list(info.value.positions) == [2]


def test_millisecond_sums_are_exact() -> None:
    ms = parse_times_ms(["1:35.365", "3:28.975"])
    assert ms[1] - ms[0] == 113_610


def test_format_round_trip() -> None:
    for text in ("1:35.365", "0:37.900", "1:32:58.334"):
        assert format_lap_time(parse_time_s(text)) == text
    assert format_lap_time(None) == "" and format_lap_time(math.nan) == ""
