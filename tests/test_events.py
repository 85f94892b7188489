"""The race feed (``race.analysis.events``, table ``events``): each kind on the synthetic race
where the truth is known, real races against rules rebuilt independently here, and the live
path (batch by batch, out of order, a car that falls silent and comes back) equal to the
import."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from race.analysis.events import EVENT_COLUMNS, KINDS, RETIRED_MEDIAN_LAPS, race_events
from race.importer import build_race_frames
from race.live.race import LiveRace
from race.sources.lapfile import parse_lap_file
from race.store import RaceStore
from tests.conftest import REALDATA, requires_realdata
from tests.live_helpers import synthetic_lap_file
from tests.test_live_incremental import SOURCE, feed_in_batches

REAL_RACES = ["wec/2025/cota-6h", "imsa/2023/12-watkins-glen-international", "wec/2019/spa-6h"]


@pytest.fixture(scope="module")
def synthetic() -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    parsed = parse_lap_file(synthetic_lap_file(), "synthetic.csv")
    return parsed, build_race_frames(parsed)


def real_frames(race: str) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    path = REALDATA / race / "laps.csv"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    parsed = parse_lap_file(path.read_bytes(), str(path))
    return parsed, build_race_frames(parsed)


def of_kind(events: pd.DataFrame, kind: str) -> pd.DataFrame:
    return events[events["kind"] == kind].reset_index(drop=True)


# -- rules rebuilt independently: a plain loop over the crossings ---------------------------
def naive_class_leads(laps: pd.DataFrame) -> list[tuple[str, str, int]]:
    """(class, number, lap) each time a class's leader changes, the running order (most laps,
    then earliest last crossing) rebuilt at every crossing of the class."""
    out = []
    done: dict[str, dict[str, tuple[int, float]]] = {}
    leader: dict[str, str | None] = {}
    rows = laps.dropna(subset=["elapsed_s", "class"]).sort_values(
        ["elapsed_s", "number", "lap_number"])
    for number, lap, cls, t in zip(rows["number"], rows["lap_number"], rows["class"],
                                   rows["elapsed_s"], strict=True):
        cars = done.setdefault(cls, {})
        cars[number] = (int(lap), float(t))
        best = min(cars, key=lambda n: (-cars[n][0], cars[n][1], n))
        if best != leader.get(cls):
            leader[cls] = best
            out.append((cls, best, cars[best][0]))
    return out


def naive_fastest_laps(laps: pd.DataFrame) -> list[tuple[str, str, int]]:
    """(class, number, lap) of each lap time below every lap time crossed earlier in its
    class."""
    out = []
    rows = laps.dropna(subset=["elapsed_s", "class", "lap_time_s"])
    for cls, group in rows.groupby("class"):
        times = list(zip(group["elapsed_s"], group["lap_time_s"], group["number"],
                         group["lap_number"], strict=True))
        for t, lt, number, lap in times:
            if all(lt < other for ot, other, _, _ in times if ot < t):
                out.append((cls, number, int(lap)))
    return sorted(out)


def check_pit_in_equals_stops(events: pd.DataFrame, frames: dict[str, pd.DataFrame]) -> None:
    """Every stored pit stop has one pit_in event at its time; the other pit_in events are
    in-laps (B) followed by no stop (retired in the pits, the finish)."""
    stops = frames["pit_stops"]
    pit_in = of_kind(events, "pit_in")
    keyed = {(n, round(t, 6)) for n, t in zip(pit_in["number"], pit_in["t_s"], strict=True)}
    assert len(keyed) == len(pit_in)
    wanted = {(n, round(t, 6)) for n, t in zip(stops["number"], stops["pit_in_elapsed_s"],
                                                strict=True)}
    assert wanted <= keyed
    laps = frames["laps"].set_index(["number", "lap_number"])
    stop_laps = set(zip(stops["number"], stops["in_lap"].astype("float"), strict=True))
    extra = pit_in[[(n, round(t, 6)) not in wanted
                    for n, t in zip(pit_in["number"], pit_in["t_s"], strict=True)]]
    for number, lap in zip(extra["number"], extra["lap"], strict=True):
        assert bool(laps.loc[(number, lap), "in_lap"])
        assert (number, float(lap)) not in stop_laps
        following = (number, lap + 1)
        assert following not in laps.index or pd.isna(laps.loc[following, "pit_time_s"])
    # and the laps of the stops: the stored in-lap, or the lap before the out-lap
    merged = stops.assign(t=stops["pit_in_elapsed_s"].round(6)).merge(
        pit_in.assign(t=pit_in["t_s"].round(6)), on=["number", "t"])
    expected = merged["in_lap"].fillna(merged["out_lap"] - 1).astype(int)
    assert (merged["lap"].astype(int) == expected).all()


# -- the synthetic race: the truth is known ----------------------------------------------------
def test_each_kind_on_the_synthetic_race(synthetic) -> None:
    _, frames = synthetic
    events = frames["events"]
    assert list(events.columns) == EVENT_COLUMNS
    assert set(events["kind"]) == set(KINDS) - {"alert"}
    laps, stops = frames["laps"], frames["pit_stops"]
    # pit_in: one per B lap (#51 retires in the pits on lap 20: an in-lap, no stop)
    pit_in = of_kind(events, "pit_in")
    assert len(pit_in) == int(laps["in_lap"].sum()) == len(stops) + 1
    assert ("51", 20) in set(zip(pit_in["number"], pit_in["lap"], strict=True))
    check_pit_in_equals_stops(events, frames)
    # pit_out: every stop's out-lap crossing with its pit time; every stop changes driver
    pit_out = of_kind(events, "pit_out")
    assert sorted(zip(pit_out["number"], pit_out["lap"], strict=True)) == sorted(
        zip(stops["number"], stops["out_lap"], strict=True))
    assert pit_out["text"].str.contains("pit time").all()
    assert pit_out["text"].str.contains("driver change").all()
    # #9 starts from the pit lane: not a stop, no pit_out on its first lap
    assert ("9", 1) not in set(zip(pit_out["number"], pit_out["lap"], strict=True))
    changes = of_kind(events, "driver_change")
    assert sorted(zip(changes["number"], changes["lap"], strict=True)) == sorted(
        zip(stops["number"], stops["out_lap"], strict=True))
    # flag: one full-course yellow, a start and an end at the stored period's times
    flags = of_kind(events, "flag")
    period = frames["flag_periods"].iloc[0]
    assert len(frames["flag_periods"]) == 1
    assert flags["t_s"].tolist() == [period["start_s"], period["end_s"]]
    assert flags["text"].iloc[0].startswith("Full-course yellow")
    assert flags["number"].isna().all() and flags["lap"].isna().all()
    # retired: #51 only (the last car, out on lap 20), 3 median laps after its last crossing
    retired = of_kind(events, "retired")
    car = laps[laps["number"] == "51"]
    assert retired["number"].tolist() == ["51"] and retired["lap"].tolist() == [20]
    assert retired["t_s"].iloc[0] == pytest.approx(
        car["elapsed_s"].max() + RETIRED_MEDIAN_LAPS * car["lap_time_s"].median())
    # class leaders and fastest laps: the rules rebuilt with a plain loop
    leads = of_kind(events, "class_lead")
    assert list(zip(leads["class"], leads["number"], leads["lap"], strict=True)) == \
        sorted(naive_class_leads(laps), key=lambda e: laps.set_index(
            ["number", "lap_number"]).loc[(e[1], e[2]), "elapsed_s"])
    assert set(leads["class"]) == {"GTP", "GTD"}
    fastest = of_kind(events, "class_fastest_lap")
    assert sorted(zip(fastest["class"], fastest["number"], fastest["lap"], strict=True)) == \
        naive_fastest_laps(laps)
    # time order throughout
    assert events["t_s"].is_monotonic_increasing


def test_events_are_stored_with_the_race_and_read_in_time_order(store: RaceStore,
                                                                 synthetic) -> None:
    _, frames = synthetic
    store.replace_race("r", {**frames, "races": pd.DataFrame([{"series": "WEC"}])})
    stored = store.events("r")
    assert len(stored) == len(frames["events"])
    assert stored["t_s"].is_monotonic_increasing
    assert set(store.events("r", kinds=("flag",))["kind"]) == {"flag"}
    store.delete_race("r")
    assert store.events("r").empty


# -- real races --------------------------------------------------------------------------------
@pytest.mark.realdata
@requires_realdata
@pytest.mark.parametrize("race", ["wec/2024/le-mans-24h", *REAL_RACES])
def test_real_race_pit_in_and_class_leads(race: str) -> None:
    _, frames = real_frames(race)
    events = frames["events"]
    check_pit_in_equals_stops(events, frames)
    leads = of_kind(events, "class_lead")
    assert sorted(zip(leads["class"], leads["number"], leads["lap"], strict=True)) == \
        sorted(naive_class_leads(frames["laps"]))
    fastest = of_kind(events, "class_fastest_lap")
    assert sorted(zip(fastest["class"], fastest["number"], fastest["lap"], strict=True)) == \
        naive_fastest_laps(frames["laps"])
    assert len(of_kind(events, "flag")) == 2 * len(frames["flag_periods"])


# -- live: batch by batch equals the import ---------------------------------------------------
def stored_events(store: RaceStore, race_id: str) -> pd.DataFrame:
    frame = store.events(race_id)
    return frame.sort_values(["t_s", "kind", "number", "lap", "text"]).reset_index(drop=True)


def assert_live_equals_import(store: RaceStore, parsed: pd.DataFrame, race_id: str) -> None:
    store.replace_race("official", build_race_frames(parsed))
    pd.testing.assert_frame_equal(stored_events(store, "official"),
                                  stored_events(store, race_id), check_exact=False, rtol=0,
                                  atol=1e-9)


@pytest.mark.parametrize("window_s", [7.0, 45.0])
def test_synthetic_race_live_events_equal_import(store: RaceStore, synthetic,
                                                 window_s: float) -> None:
    parsed, _ = synthetic
    feed_in_batches(store, parsed, "live", window_s)
    assert_live_equals_import(store, parsed, "live")


def feed_batches(store: RaceStore, race_id: str, batches: list[pd.DataFrame]) -> LiveRace:
    store.create_live_race(race_id, {"series": "WEC"}, source="wec", url="test")
    live, revision = LiveRace(race_id), 0
    for batch in batches:
        revision = store.apply_live_delta(
            live.add_laps(batch[SOURCE].to_dict("records")), revision=revision,
            tracker="{}", status="ok", message="", source="test", clock_s=None, flag=None)
    return live


def test_late_laps_and_a_silent_car_that_comes_back(store: RaceStore, synthetic) -> None:
    """#2's laps after 8 minutes arrive from 30 minutes on: it is shown retired, then
    not; its late crossings are earlier than its class's last one (the class is recomputed);
    the stored feed still equals the import's."""
    parsed, _ = synthetic
    by_time = parsed.sort_values("elapsed_s", kind="stable")
    late = (by_time["number"] == "2") & (by_time["elapsed_s"] > 480)
    windows = np.floor(by_time["elapsed_s"].to_numpy() / 60.0)
    batches, waiting = [], []
    for w, batch in by_time.groupby(windows, sort=True):
        mine = late.loc[batch.index]
        if w * 60 < 1800:
            waiting.append(batch[mine])
            batch = batch[~mine]
        elif waiting:
            batch = pd.concat([*waiting, batch])
            waiting = []
        batches.append((w, batch))
    assert late.sum() > 10
    live = feed_batches(store, "live", [b for w, b in batches if w * 60 < 1800])
    assert "2" in live.retired  # silent for 10 minutes
    assert "2" in set(store.events("live", kinds=("retired",))["number"])
    feed_batches_continue(store, live, [b for w, b in batches if w * 60 >= 1800])
    assert "2" not in live.retired
    assert_live_equals_import(store, parsed, "live")


def feed_batches_continue(store: RaceStore, live: LiveRace, batches: list[pd.DataFrame]) -> None:
    revision = int(store.live_state(live.race_id)["revision"])
    for batch in batches:
        revision = store.apply_live_delta(
            live.add_laps(batch[SOURCE].to_dict("records")), revision=revision,
            tracker="{}", status="ok", message="", source="test", clock_s=None, flag=None)


def test_lap_by_lap_batches_out_of_time_order(store: RaceStore, synthetic) -> None:
    """Every car's lap n in one batch: crossings of a batch are often earlier than the
    previous batch's (the classes are recomputed then)."""
    parsed, _ = synthetic
    batches = [group for _, group in parsed.groupby("lap_number", sort=True)]
    feed_batches(store, "live", batches)
    assert_live_equals_import(store, parsed, "live")


def test_a_live_race_reloaded_from_the_store_continues_the_feed(store: RaceStore,
                                                               synthetic) -> None:
    """After a restart the session rebuilds ``LiveRace`` from the stored laps: the feed
    continues from the stored state, without repeating an event."""
    parsed, _ = synthetic
    by_time = parsed.sort_values("elapsed_s", kind="stable")
    half = by_time[by_time["elapsed_s"] <= 1300]
    rest = by_time[by_time["elapsed_s"] > 1300]
    feed_batches(store, "live", [g for _, g in half.groupby(
        np.floor(half["elapsed_s"] / 30.0))])
    from race.live.race import STORED_KEEP
    reloaded = LiveRace("live", store.table("laps", "live", STORED_KEEP),
                        store.table("flag_periods", "live"))
    feed_batches_continue(store, reloaded, [g for _, g in rest.groupby(
        np.floor(rest["elapsed_s"] / 30.0))])
    assert_live_equals_import(store, parsed, "live")


@pytest.mark.realdata
@requires_realdata
@pytest.mark.parametrize("race", REAL_RACES)
def test_real_race_live_events_equal_import(store: RaceStore, race: str) -> None:
    parsed, _ = real_frames(race)
    feed_in_batches(store, parsed, "live", 120.0)
    assert_live_equals_import(store, parsed, "live")


def test_race_events_of_no_laps() -> None:
    assert race_events(pd.DataFrame(), None).empty


# -- the command line and the read with alerts ------------------------------------------------
def test_events_command_json_and_kinds(tmp_path, synthetic) -> None:
    from tests.test_cli import assert_one_line_error, run
    path = tmp_path / "wec" / "2024" / "synthetic-race" / "laps.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(synthetic_lap_file())
    db = tmp_path / "race.duckdb"
    done = run("import", str(path), "--json", db=db)
    assert done.returncode == 0, done.stderr
    race_id = json.loads(done.stdout)[0]["race_id"]
    with RaceStore(db) as store:  # one alert from the model job, read with the events
        store.replace_model_outputs(race_id, alerts=pd.DataFrame([{
            "number": "16", "lap_number": 12, "kind": "slow stop", "class": "GTP",
            "elapsed_s": 800.0, "score": 9.0, "reason": "stop 12 s longer than usual"}]))
    done = run("events", "--race", race_id, "--json", db=db)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert all(list(r) == EVENT_COLUMNS for r in rows)
    assert [r["t_s"] for r in rows] == sorted(r["t_s"] for r in rows)
    _, frames = synthetic
    expected = frames["events"]
    stored = [r for r in rows if r["kind"] != "alert"]
    assert [(r["kind"], r["number"], r["lap"], r["text"]) for r in stored] == list(zip(
        expected["kind"], [None if pd.isna(n) else n for n in expected["number"]],
        [None if pd.isna(v) else int(v) for v in expected["lap"]], expected["text"],
        strict=True))
    alert = [r for r in rows if r["kind"] == "alert"]
    assert alert == [{"t_s": 800.0, "kind": "alert", "number": "16", "class": "GTP",
                      "lap": 12, "text": "#16 slow stop: stop 12 s longer than usual"}]
    done = run("events", "--race", race_id, "--kind", "pit_in", "--kind", "flag", "--json",
               db=db)
    assert {r["kind"] for r in json.loads(done.stdout)} == {"pit_in", "flag"}
    done = run("events", "--race", race_id, db=db)
    assert done.returncode == 0 and "leads GTP" in done.stdout
    assert_one_line_error(run("events", "--race", "nope", db=db))


def test_latest_feed_is_the_tail_of_the_whole_feed(store: RaceStore, synthetic) -> None:
    from race.present.queries import latest_feed, race_feed
    _, frames = synthetic
    store.replace_race("r", {**frames, "races": pd.DataFrame([{"series": "WEC"}])})
    store.replace_model_outputs("r", alerts=pd.DataFrame([{
        "number": "30", "lap_number": 30, "kind": "spin/off", "class": "GTD",
        "elapsed_s": 2100.0, "score": 14.0, "reason": "14 s lost in S2"}]))
    whole = race_feed(store, "r")
    assert (whole["kind"] == "alert").sum() == 1
    for classes, until in (((), None), (("GTD",), None), (("GTP",), 1500.0)):
        want = whole[(whole["class"].isin(classes) if classes else True)
                     | whole["class"].isna()]
        if until is not None:
            want = want[want["t_s"] <= until]
        got = latest_feed(store, "r", 15, classes=classes, until_s=until)
        assert got[EVENT_COLUMNS].astype(object).equals(
            want.tail(15).reset_index(drop=True)[EVENT_COLUMNS].astype(object)), classes
    assert "#30 spin/off: 14 s lost in S2" in set(
        latest_feed(store, "r", 15, classes=("GTD",), until_s=2100.0)["text"])


def test_a_race_stored_before_the_feed_gets_its_events_on_read(store: RaceStore,
                                                               synthetic) -> None:
    from race.present.queries import latest_feed, race_feed
    _, frames = synthetic
    old = {k: v for k, v in frames.items() if k != "events"}
    store.replace_race("old", {**old, "races": pd.DataFrame([{"series": "WEC"}])})
    assert store.events("old").empty
    feed = race_feed(store, "old")
    expected = frames["events"]
    assert feed[EVENT_COLUMNS].astype(object).equals(expected[EVENT_COLUMNS].astype(object))
    assert set(race_feed(store, "old", kinds=("flag",))["kind"]) == {"flag"}
    assert latest_feed(store, "old", 5)["text"].tolist() == expected["text"].tail(5).tolist()
