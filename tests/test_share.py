"""Shareable views (``race.present.share``) and the TV-delay arithmetic
(``race.present.timeline``): pure functions, no Streamlit."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pandas as pd
import pytest

from race.present import timeline
from race.present.share import SharedView, check_view, format_query, parse_query, share_link

VIEWS = [
    SharedView(),
    SharedView(race="wec-2025-sample-3h-seed2-race"),
    SharedView(race="imsa-2023-12-watkins-glen-international-race", classes=("GTD PRO", "GTD"),
               focus="7", follow=("7", "51", "155"), delay_s=60),
    SharedView(race="r", follow=("007",), delay_s=180),
    SharedView(race="r", classes=("LMP2",), delay_s=1),
]


@pytest.mark.parametrize("view", VIEWS)
def test_query_round_trip(view: SharedView) -> None:
    assert parse_query(format_query(view)) == (view, [])


@pytest.mark.parametrize("view", VIEWS)
def test_link_round_trip_through_the_address(view: SharedView) -> None:
    link = share_link("laps", view, {"layout": "compact"})
    parts = urlsplit(link)
    assert parts.path == "/laps"
    params = dict(parse_qsl(parts.query))
    assert params.pop("layout") == "compact"  # other parameters travel along
    assert parse_query(params) == (view, [])


def test_example_link_of_the_issue() -> None:
    link = "/laps?race=wec-2025-x-race&classes=LMP2,GTD&focus=7&follow=7,51&delay=60"
    view, warnings = parse_query(dict(parse_qsl(urlsplit(link).query)))
    assert warnings == []
    assert view == SharedView("wec-2025-x-race", ("LMP2", "GTD"), "7", ("7", "51"), 60)
    assert share_link("laps", view) == link


def test_parse_is_forgiving_about_spacing_repeats_and_lists() -> None:
    view, warnings = parse_query({"classes": " LMP2 , ,GTD,LMP2", "follow": ["1", "7, 7,9"],
                                  "focus": "  ", "delay": "45s"})
    assert warnings == []
    assert view.classes == ("LMP2", "GTD") and view.follow == ("7", "9")
    assert view.focus is None and view.delay_s == 45
    assert view.given() == {"classes", "follow", "delay"}


@pytest.mark.parametrize("text", ["abc", "-5", "181", "nan", "1e9"])
def test_bad_delay_is_dropped_with_a_warning_naming_it(text: str) -> None:
    view, warnings = parse_query({"delay": text, "focus": "7"})
    assert view.delay_s is None and view.focus == "7"
    assert len(warnings) == 1 and "delay" in warnings[0]


def test_check_view_drops_what_the_database_lacks_and_names_it() -> None:
    view = SharedView("nope", ("LMP2", "XYZ"), "999", ("7", "888"), 30)
    checked, warnings = check_view(view, races=["a", "b"], classes=["LMP2", "GTD"],
                                   cars=["7", "51"])
    assert checked == SharedView(None, ("LMP2",), None, ("7",), 30)
    assert [w.split("=")[0].split(":")[0] for w in warnings] == [
        "Link parameter race", "Link parameter classes", "Link parameter focus",
        "Link parameter follow"]
    assert check_view(checked, races=["a"], classes=["LMP2"], cars=["7"]) == (checked, [])


# -- TV delay ---------------------------------------------------------------------------------
def test_as_of_composes_replay_and_delay() -> None:
    assert timeline.as_of_s(1000.0, 0) is None               # latest data, followed live
    assert timeline.as_of_s(1000.0, 60) == 940.0
    assert timeline.as_of_s(1000.0, 0, replay_t_s=500.0) == 500.0
    assert timeline.as_of_s(1000.0, 60, replay_t_s=500.0) == 440.0
    assert timeline.as_of_s(1000.0, 60) == timeline.as_of_s(1000.0, 0, replay_t_s=940.0)
    assert timeline.as_of_s(30.0, 60) == 0.0                  # never before the start
    assert timeline.as_of_s(1000.0, 999) == 820.0             # clamped to 180 s


def test_sync_delay_is_now_minus_the_cars_crossing_clamped() -> None:
    assert timeline.sync_delay_s(1000.0, 958.4) == 42
    assert timeline.sync_delay_s(1000.0, 1000.0) == 0
    assert timeline.sync_delay_s(1000.0, 1010.0) == 0
    assert timeline.sync_delay_s(1000.0, 100.0) == timeline.MAX_DELAY_S
    assert timeline.sync_delay_s(1000.0, None) == 0


def test_now_of_a_live_race_runs_on_the_feed_clock() -> None:
    polled = datetime(2026, 6, 14, 14, 0, 0)
    live = {"active": True, "clock_s": 3600.0, "last_poll_at": pd.Timestamp(polled)}
    assert timeline.race_now_s(3590.0, live, polled + timedelta(seconds=7)) == 3607.0
    assert timeline.race_now_s(3590.0, None, polled) == 3590.0  # imported race: latest data
    assert timeline.race_now_s(3590.0, {**live, "active": False}, polled) == 3590.0
    assert timeline.race_now_s(3590.0, {**live, "clock_s": None}, polled) == 3590.0
    stale = polled + timedelta(seconds=timeline.MAX_CLOCK_EXTRAPOLATION_S + 1)
    assert timeline.race_now_s(3590.0, live, stale) == 3590.0  # the poller stopped


def test_rows_until_a_moment() -> None:
    laps = pd.DataFrame({"elapsed_s": [10.0, 20.0, 30.0]})
    assert timeline.laps_until(laps, None) is laps
    assert timeline.laps_until(laps, 20.0)["elapsed_s"].tolist() == [10.0, 20.0]
    periods = pd.DataFrame({"flag": ["FCY", "SF"], "start_s": [5.0, 25.0],
                            "end_s": [15.0, 40.0]})
    shown = timeline.periods_until(periods, 20.0)
    assert shown["end_s"].tolist() == [15.0]
    assert timeline.periods_until(periods, 30.0)["end_s"].tolist() == [15.0, 30.0]
