"""Followed cars and shared links: the toast rules (``race.present.follow``), the starred
rows, and the app under ``AppTest``: a shared link fills the sidebar and the Live page shows
the race as of now − delay with the followed cars starred; a followed car's pit stop toasts
once; bad parameters are warnings naming them, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from race.importer import import_lap_file
from race.present import queries, views
from race.present.follow import (
    MAX_TOASTS,
    Notice,
    class_positions,
    notifications,
    shown_notices,
)
from race.present.presentation import FOLLOWED_ROW_BACKGROUND, mark_followed, table_css
from race.store import RaceStore
from tests.live_helpers import synthetic_lap_file
from tests.shown import shown_table
from tests.test_app import APP, TIMEOUT, _navigation_only  # noqa: F401  (autouse fixture)

FEED = pd.DataFrame({
    "t_s": [100.0, 150.0, 200.0, 210.0, 260.0, 300.0],
    "kind": ["pit_in", "pit_in", "pit_out", "class_lead", "class_fastest_lap", "alert"],
    "number": ["7", "8", "7", "7", "51", "7"],
    "class": ["GTP", "GTP", "GTP", "GTP", "GTD", "GTP"],
    "lap": [10, 11, 11, 12, 14, 15],
    "text": ["#7 pits at the end of lap 10", "#8 pits at the end of lap 11", "#7 out",
             "#7 leads GTP on lap 12", "#51 fastest GTD lap so far: 1:08.000", "#7 slow lap"],
})


def test_notifications_are_the_followed_cars_events_since_the_watermark() -> None:
    got = notifications(FEED, ("7", "51"), 150.0, 260.0, {}, {})
    assert [n.text for n in got] == ["★ #7 out", "★ #7 leads GTP on lap 12",
                                     "★ #51 fastest GTD lap so far: 1:08.000"]
    assert notifications(FEED, ("7",), 300.0, 400.0, {}, {}) == []
    assert notifications(FEED, (), 0.0, 400.0, {}, {}) == []


def test_class_position_changes_not_told_twice() -> None:
    before = {"7": ("GTP", 2), "51": ("GTD", 3), "9": ("GTD", 1)}
    after = {"7": ("GTP", 1), "51": ("GTD", 4), "9": ("GTD", 1)}
    texts = [n.text for n in notifications(FEED, ("7", "51", "9"), 150.0, 220.0, before,
                                           after)]
    # 7 became leader: the class-lead event says it; 51 dropped a place; 9 did not move
    assert texts == ["★ #7 out", "★ #7 leads GTP on lap 12", "★ #51 down to P4 in GTD (was P3)"]
    texts = [n.text for n in notifications(FEED.iloc[:0], ("51",), 0.0, 1.0,
                                           {"51": ("GTD", 4)}, {"51": ("GTD", 2)})]
    assert texts == ["★ #51 up to P2 in GTD (was P4)"]


def test_at_most_a_few_toasts_per_refresh() -> None:
    many = [Notice(f"n{i}", "i", float(i)) for i in range(9)]
    shown = shown_notices(many)
    assert len(shown) == MAX_TOASTS
    assert "6 more" in shown[0].text and [n.text for n in shown[1:]] == ["n6", "n7", "n8"]
    assert shown_notices(many[:MAX_TOASTS]) == many[:MAX_TOASTS]


def test_class_positions_of_followed_cars_on_the_board() -> None:
    board = pd.DataFrame({"number": ["7", "8", "51"], "class": ["GTP", "GTP", "GTD"],
                          "PIC": [1, 2, 1], "Laps": [3, 3, 0]})
    assert class_positions(board, ("7", "51")) == {"7": ("GTP", 1)}  # 51: no lap yet


def test_followed_rows_bold_and_starred_less_than_focus() -> None:
    board = pd.DataFrame({"No.": ["7", "8", "51"], "number": ["7", "8", "51"],
                          "class": ["GTP", "GTP", "GTD"], "Team": ["a", "b", "c"]})
    css = table_css(board, ["No.", "Team"], focus="8", followed=("7", "8"))
    assert FOLLOWED_ROW_BACKGROUND in css.loc[0, "Team"] and "bold" in css.loc[0, "Team"]
    assert FOLLOWED_ROW_BACKGROUND not in css.loc[1, "Team"]  # the focus car stays focus
    assert css.loc[2, "Team"] == ""
    assert mark_followed(board, ("7",))["No."].tolist() == ["★ 7", "8", "51"]


# -- the app ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def synthetic_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("follow")
    db = folder / "race.duckdb"
    with RaceStore(db) as store:
        result = import_lap_file(store, folder / "synthetic" / "laps.csv",
                                 data=synthetic_lap_file(), series="IMSA", event="synthetic",
                                 year=2025)
    return db, result.race_id


def app(db: Path, monkeypatch: pytest.MonkeyPatch, **params: str) -> AppTest:
    monkeypatch.setenv("RACE_DB", str(db))
    monkeypatch.setenv("RACE_BACKGROUND_VIDEO", str(db.parent / "no-video.mp4"))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def query(at: AppTest) -> dict[str, str]:
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in at.query_params.items()}


def test_shared_link_fills_the_sidebar_and_the_live_page(
        synthetic_db: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    db, race_id = synthetic_db
    at = app(db, monkeypatch, race=race_id, classes="GTD", focus="30", follow="37,30,9",
             delay="60", layout="compact")
    assert not at.warning, [w.value for w in at.warning]
    assert at.multiselect(key="pw_classes").value == ["GTD"]
    assert at.selectbox(key="pw_focus").value == "30"
    assert at.multiselect(key="pw_follow").value == ["37", "30", "9"]
    assert at.number_input(key="pw_delay").value == 60
    sel = at.session_state["pw_selection"]
    assert (sel.race_id, sel.classes, sel.focus, sel.followed, sel.delay_s) == (
        race_id, ("GTD",), "30", ("37", "30", "9"), 60)
    with RaceStore(db) as store:
        end = float(store.table("laps", race_id, ["elapsed_s"])["elapsed_s"].max())
        state = queries.race_state(store, race_id, end - 60)
        expected = views.leaderboard(state.standings, store.table("cars", race_id))
    assert sel.as_of_s == pytest.approx(end - 60)
    shown = shown_table(at.dataframe[0])
    assert list(shown.columns) == ["Pos", "No.", "Class", "Driver", "Gap", "Int", "Last"]
    gtd = expected[expected["class"] == "GTD"]
    starred = [("★ " if n in ("37", "30", "9") else "") + n for n in gtd["number"]]
    assert shown["No."].str.removeprefix("! ").tolist() == starred
    assert at.dataframe[0].value["Pos"].tolist() == gtd["Pos"].tolist()
    assert FOLLOWED_ROW_BACKGROUND.replace(" ", "") in \
        at.dataframe[0].proto.arrow_data.styler.styles.replace(" ", "")
    banner = " ".join(h.value for h in at.html)
    assert "elapsed" in banner and "TV delay 60 s" in banner
    # the address keeps the view (and the Live page's own ?layout=compact)
    assert query(at) == {"race": race_id, "classes": "GTD", "focus": "30",
                         "follow": "37,30,9", "delay": "60", "layout": "compact"}
    # a change in the sidebar goes back into the address; the link is not re-applied
    at.multiselect(key="pw_follow").set_value(["9"]).run()
    at.number_input(key="pw_delay").set_value(0).run()
    assert query(at)["follow"] == "9" and "delay" not in query(at)
    assert at.session_state["pw_selection"].as_of_s is None


def test_bad_link_parameters_are_warnings_naming_them(
        synthetic_db: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    db, race_id = synthetic_db
    at = app(db, monkeypatch, race="no-such-race", classes="LMP9", focus="999",
             follow="2,888", delay="forever")
    text = " ".join(w.value for w in at.warning)
    for name in ("race", "classes", "focus", "follow", "delay"):
        assert f"Link parameter {name}" in text
    assert not at.error
    sel = at.session_state["pw_selection"]
    assert (sel.race_id, sel.classes, sel.focus, sel.followed, sel.delay_s) == (
        race_id, (), None, ("2",), 0)
    assert query(at) == {"race": race_id, "follow": "2"}


def test_a_followed_car_pitting_toasts_once(synthetic_db: tuple[Path, str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    db, race_id = synthetic_db
    with RaceStore(db) as store:
        pits = queries.race_feed(store, race_id, kinds=("pit_in",))
    pit = pits[pits["t_s"] > 600].iloc[0]
    minute = int(pit["t_s"] // 60)  # the replay at this minute is before the pit stop
    at = app(db, monkeypatch, race=race_id, follow=str(pit["number"]))
    at.toggle(key="pw_replay").set_value(True).run()
    at.select_slider(key="pw_replay_t").set_value(minute).run()
    assert not at.toast  # the first look sets the watermark: no history replayed
    at.select_slider(key="pw_replay_t").set_value(minute + 1).run()
    toasts = [t.value for t in at.toast]
    assert f"★ {pit['text']}" in toasts
    at.run()  # nothing new
    assert not at.toast
