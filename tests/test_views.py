"""What the pages show, without Streamlit: ``race.present.views`` and
``race.present.presentation``."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from race.analysis.standings import standings_at
from race.errors import NotFoundError
from race.present import views
from race.present.presentation import (
    class_chips_html,
    class_colour,
    flag_banner_html,
    gap_text,
    lap_time_text,
    sector_text,
    sort_classes,
    table_css,
)
from race.present.queries import load_prepared, race_state
from race.sample import load_sample_race, write_sample_race
from race.store import RaceStore
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("views")
    store = RaceStore(folder / "race.duckdb")
    result = load_sample_race(store, hours=2.0, seed=7, folder=folder)
    yield store, result.race_id
    store.close()


def test_race_package_never_imports_streamlit() -> None:
    code = ("import sys, race.present.views, race.present.presentation, race.present.queries; "
            "sys.exit('streamlit' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


# -- presentation ----------------------------------------------------------------------------
def test_class_colours_are_consistent_and_grouped() -> None:
    assert class_colour("HYPERCAR") == class_colour("hypercar ") == "#e10600"
    assert class_colour("LMP2") == class_colour("LMP2 PRO/AM") == "#1e88e5"
    assert class_colour("GTDPRO") == class_colour("GTD PRO")
    assert class_colour("GTD") != class_colour("GTD PRO")  # two GT classes of one race
    assert class_colour("LMGTE Pro") != class_colour("LMGTE Am")
    assert class_colour("Formula Ford") == "#8a8f98"
    red = [class_colour(c) for c in ("HYPERCAR", "GTP", "DPI", "LMP1")]
    assert all(int(c[1:3], 16) > 0xa0 and int(c[3:5], 16) < 0x40 for c in red)
    assert sort_classes(["LMGT3", "LMP2", "HYPERCAR", None]) == ["HYPERCAR", "LMP2", "LMGT3"]


@pytest.mark.parametrize(("value", "text"), [
    (None, "—"), (0.0, "—"), (1.2345, "+1.234"), (75.5, "+1:15.500"), ("2 laps", "2 laps"),
    (float("nan"), "—")])
def test_gap_text(value: object, text: str) -> None:
    assert gap_text(value) == text


def test_time_texts() -> None:
    assert lap_time_text(207.519) == "3:27.519"
    assert lap_time_text(5578.334) == "1:32:58.334"
    assert lap_time_text(float("nan")) == ""
    assert sector_text(33.368) == "33.368"
    assert sector_text(81.294) == "1:21.294"


def test_feed_strings_are_escaped_in_html() -> None:
    evil = '<img src=x onerror="alert(1)">'
    html = class_chips_html({evil: 2}) + flag_banner_html("FCY", clock=evil)
    assert "<img" not in html and "&lt;img" in html
    assert 'data-flag="FCY"' in flag_banner_html("FCY")
    assert "inferred" in flag_banner_html("FCY", inferred=True)


def test_table_css_focus_row_and_best_laps() -> None:
    board = pd.DataFrame({"number": ["7", "8"], "class": ["HYPERCAR", "LMP2"],
                          "No.": ["7", "8"], "Last": [200.0, 201.0], "Status": ["pit", "track"],
                          "overall_best_last": [True, False],
                          "personal_best_last": [True, True]})
    css = table_css(board, ["No.", "Last", "Status"], focus="8")
    assert "#e10600" in css.loc[0, "No."] and "#1e88e5" in css.loc[1, "No."]
    assert "#7b1fa2" in css.loc[0, "Last"]  # purple: fastest lap so far
    assert "#1b873f" in css.loc[1, "Last"]  # green: personal best
    assert "rgba(255, 214, 0" in css.loc[1, "Status"] and "rgba" not in css.loc[0, "Status"]


# -- leaderboard -----------------------------------------------------------------------------
def test_leaderboard_rows(sample) -> None:
    store, race_id = sample
    state = race_state(store, race_id)
    board = views.leaderboard(state.standings, store.table("cars", race_id))
    assert len(board) == len(state.standings)
    assert set(views.LEADERBOARD_COLUMNS) <= set(board.columns)
    assert board["No."].map(type).eq(str).all()
    ranks = [sort_classes(board["class"]).index(c) for c in board["class"]]
    assert ranks == sorted(ranks)  # class blocks, fastest class first
    for _, group in board.groupby("class"):
        assert group["PIC"].tolist() == list(range(1, len(group) + 1))
        leader = group.iloc[0]
        assert leader["Class gap"] == 0.0 and leader["Class int"] == 0.0
        assert leader["Class gap text"] == "—"
    lapped = board[board["Gap text"].str.contains("lap", na=False)]
    assert (lapped["Laps"] < board["Laps"].max()).all()
    assert views.cars_per_class(board) == state.standings["class"].value_counts().to_dict()
    assert list(views.cars_per_class(board)) == sort_classes(board["class"])


def test_race_clock() -> None:
    clock = views.race_clock({"duration_s": 6 * 3600.0}, 3600.0, "GF")
    assert (clock.elapsed_s, clock.remaining_s, clock.finished) == (3600.0, 5 * 3600.0, False)
    assert views.race_clock({"duration_s": None}, 10.0, "FF").remaining_s == 0.0


def test_lap_history_position_is_the_running_order_at_each_crossing(sample) -> None:
    store, race_id = sample
    laps = store.table("laps", race_id, views.LAP_CHART_COLUMNS)
    history = views.lap_history(laps)
    prepared = load_prepared(store, race_id)
    rng = np.random.default_rng(3)
    for i in rng.choice(len(history), size=12, replace=False):
        row = history.iloc[int(i)]
        standings, _ = standings_at(prepared, float(row["elapsed_s"]))
        at = standings.set_index("number").loc[row["number"]]
        assert int(at["position"]) == int(row["position"])
        assert int(at["class_position"]) == int(row["class_position"])
    firsts = history[history["class_position"] == 1]
    assert (firsts["class_gap_s"] == 0).all()


def test_lap_time_range_ignores_slow_laps(sample) -> None:
    store, race_id = sample
    laps = store.table("laps", race_id, views.LAP_CHART_COLUMNS)
    car = laps[laps["number"] == laps["number"].iloc[0]]
    low, high = views.lap_time_range(car)
    clean = car.loc[car["clean"], "lap_time_s"]
    assert low < clean.min() and high < car["lap_time_s"].max()
    assert views.lap_time_range(car.assign(clean=False)) is None


def test_pace_and_drive_time_tables(sample) -> None:
    store, race_id = sample
    laps = store.table("laps", race_id, views.LAP_CHART_COLUMNS)
    cars = store.table("cars", race_id)
    per_car = views.pace_by_car(laps, cars)
    assert len(per_car) == len(cars)
    assert (per_car["Best clean"] <= per_car["Median clean"]).all()
    per_driver = views.pace_by_driver(laps)
    assert per_driver.groupby("number")["Laps"].sum().sort_index().tolist() == \
        laps.groupby("number").size().sort_index().tolist()
    drive = views.drive_time_rows(store.table("stints", race_id))
    shares = drive.groupby("number")["Share"].sum()
    assert np.allclose(shares, 1.0, atol=1e-3)
    assert (drive["Longest stint"] <= drive["Drive time"] + 1e-6).all()


def test_pit_stop_rows(sample) -> None:
    store, race_id = sample
    rows = views.pit_stop_rows(store.table("pit_stops", race_id), store.table("cars", race_id))
    assert len(rows) > 0
    assert set(rows["Under"]) <= {"green", "neutralised"}
    assert rows["Race time"].is_monotonic_increasing


def test_race_choices_label_events() -> None:
    races = pd.DataFrame({
        "race_id": ["a", "b"], "series": ["WEC", "IMSA"], "season": [2024, None],
        "event": ["le-mans-24h", "x"], "session": ["Race", None], "track": ["Le Mans", None],
        "imported_at": [datetime(2024, 1, 1), datetime(2024, 1, 2)]})
    choices = views.race_choices(races)
    assert choices["race_id"].tolist() == ["b", "a"]  # newest import first
    assert choices["event_label"].tolist() == ["X", "2024 · Le Mans 24 Hours"]
    assert choices["session"].tolist() == ["Race", "Race"]
    twice = pd.concat([races, races.iloc[[0]].assign(race_id="c", event="le-mans-24h-b",
                                           imported_at=datetime(2024, 1, 3))])
    labels = views.race_choices(twice).set_index("race_id")["event_label"]
    assert labels["a"] == "2024 · Le Mans 24 Hours (le-mans-24h)"
    assert labels["c"] == "2024 · Le Mans 24 Hours (le-mans-24h-b)"


# -- monitor status --------------------------------------------------------------------------
def test_monitor_status() -> None:
    now = datetime(2025, 6, 14, 12, 0, 0)
    empty = pd.DataFrame(columns=["race_id", "url", "last_poll_at", "last_status",
                                  "last_message", "polls_ok", "polls_failed"])
    assert not views.monitor_status(empty, now).running
    live = pd.DataFrame({"race_id": ["a", "b", "c"], "url": ["wec live", "imsa live", "x"],
                         "last_poll_at": [now - timedelta(seconds=20),
                                          now - timedelta(hours=3), pd.NaT],
                         "last_status": ["ok", "fetch-error", None],
                         "last_message": ["3 lap(s)", "timeout", None],
                         "polls_ok": [120, 40, 0], "polls_failed": [2, 5, 0]})
    status = views.monitor_status(live, now)
    assert status.running and status.source == "wec live" and status.last_status == "ok"
    assert status.polls == 167
    assert not views.monitor_status(live, now + timedelta(hours=1)).running


# -- data page -------------------------------------------------------------------------------
def test_suggested_event() -> None:
    assert views.suggested_event("sebring-12h-2025.csv") == "sebring-12h-2025"
    assert views.suggested_event("laps.csv") is None
    assert views.suggested_event("23_Analysis_Race_Hour 24.CSV") is None


def test_import_files_reports_each_file(tmp_path: Path) -> None:
    good = write_sample_race(tmp_path / "spa-6h-2025.csv", hours=1.0, seed=2).read_bytes()
    seen: list[float] = []
    with RaceStore(tmp_path / "race.duckdb") as store:
        outcomes = views.import_files(
            store, [("spa-6h-2025.csv", good), ("laps.csv", good), ("bad-2025.csv", b"x;y\n")],
            progress=lambda f, t: seen.append(f))
        assert [o.ok for o in outcomes] == [True, False, False]
        assert outcomes[0].race_id == "wec-2025-spa-6h-2025-race"
        assert "event" in outcomes[1].message
        assert seen[0] == 0.0 and seen[-1] == 1.0
        table = views.outcomes_table(outcomes)
        assert table["Result"].tolist() == ["ok", "error", "error"]
        csv = views.export_bytes(store, outcomes[0].race_id, "pit_stops", "csv")
        assert len(pd.read_csv(io.BytesIO(csv))) == len(store.table("pit_stops",
                                                                     outcomes[0].race_id))
        parquet = views.export_bytes(store, outcomes[0].race_id, "laps", "parquet")
        assert len(pd.read_parquet(io.BytesIO(parquet))) == outcomes[0].laps
        views.delete_race(store, outcomes[0].race_id)
        assert store.races().empty
        assert store.ingest_log()["kind"].iloc[0] == "delete"


def test_lap_files_in_folder(tmp_path: Path) -> None:
    write_sample_race(tmp_path / "2025" / "spa" / "laps.csv", hours=1.0, seed=2)
    assert [p.name for p in views.lap_files_in_folder(str(tmp_path))] == ["laps.csv"]
    with pytest.raises(NotFoundError, match="no such folder"):
        views.lap_files_in_folder(str(tmp_path / "missing"))
