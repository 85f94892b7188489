"""The incremental live path equals the official import: laps fed batch by batch through
``LiveRace`` and ``RaceStore.apply_live_delta`` give the same stored tables as deriving the
whole race at once (``build_race_frames`` + ``replace_race``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from race.importer import build_race_frames
from race.live.race import LiveRace
from race.schema import LAP_SOURCE_COLUMNS
from race.sources.lapfile import parse_lap_file
from race.store import LiveStateConflict, RaceStore
from tests.conftest import REALDATA, requires_realdata
from tests.live_helpers import synthetic_lap_file

SOURCE = [c for _, c, _ in LAP_SOURCE_COLUMNS]


def feed_in_batches(store: RaceStore, parsed: pd.DataFrame, race_id: str,
                    window_s: float) -> LiveRace:
    """Store the laps the way live polls would: crossings of each ``window_s`` together."""
    store.create_live_race(race_id, {"series": "WEC", "event": "batches"}, source="wec",
                           url="test")
    live = LiveRace(race_id)
    revision = 0
    by_time = parsed.sort_values("elapsed_s", kind="stable")
    batches = np.floor(by_time["elapsed_s"].to_numpy() / window_s)
    for _, batch in by_time.groupby(batches, sort=True):
        rows = batch[SOURCE].to_dict("records")
        delta = live.add_laps(rows)
        revision = store.apply_live_delta(delta, revision=revision, tracker="{}",
                                          status="ok", message="", source="test",
                                          clock_s=None, flag=None)
    # What LiveSession.stop writes at the end: the races row and the cars' lap counts
    # (written with the races row, not every batch).
    final = live.add_laps([])
    final.race = live.race_fields(force=True)
    final.cars = live.car_updates()
    store.apply_live_delta(final, revision=revision, tracker="{}", status="stopped",
                           message="", source="test", clock_s=None, flag=None)
    return live


def compare_with_import(store: RaceStore, parsed: pd.DataFrame, race_id: str) -> None:
    store.replace_race("official", build_race_frames(parsed))
    for table, drop in (("laps", ()), ("stints", ()), ("pit_stops", ()),
                        ("flag_periods", ()), ("drivers", ()),
                        ("cars", ("vehicle",))):
        a = store.table(table, "official").drop(columns=list(drop))
        b = store.table(table, race_id).drop(columns=list(drop))
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=0, atol=1e-9,
                                      obj=table)


@pytest.mark.parametrize("window_s", [7.0, 45.0])
def test_synthetic_race_batch_by_batch_equals_import(store: RaceStore,
                                                     window_s: float) -> None:
    parsed = parse_lap_file(synthetic_lap_file(), "synthetic.csv")
    live = feed_in_batches(store, parsed, "live", window_s)
    compare_with_import(store, parsed, "live")
    # the in-memory derivation agrees with the full one too
    full = build_race_frames(parsed)["laps"].set_index(["number", "lap_number"])
    mine = live.columns.take(None).set_index(["number", "lap_number"]).loc[full.index]
    for column in ("stint_number", "lap_in_stint", "neutralised", "restart_lap", "clean",
                   "in_lap", "out_lap", "pit_lane_start"):
        assert (mine[column].to_numpy() == full[column].to_numpy()).all(), column


@pytest.mark.realdata
@requires_realdata
@pytest.mark.parametrize("race", ["wec/2025/cota-6h", "imsa/2023/12-watkins-glen-international",
                                  "wec/2019/spa-6h"])
def test_real_race_batch_by_batch_equals_import(store: RaceStore, race: str) -> None:
    """Three real races: red flag and safety cars; a 56-car field; no flag column (2019,
    neutralisations inferred from lap times, which the incremental path re-infers)."""
    path = REALDATA / race / "laps.csv"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    parsed = parse_lap_file(path.read_bytes(), str(path))
    feed_in_batches(store, parsed, "live", 120.0)
    compare_with_import(store, parsed, "live")


def test_a_stale_writer_is_refused(store: RaceStore) -> None:
    parsed = parse_lap_file(synthetic_lap_file(), "synthetic.csv")
    store.create_live_race("r", {"series": "WEC"}, source="wec", url="test")
    live = LiveRace("r")
    first = parsed[parsed["lap_number"] == 1][SOURCE].to_dict("records")
    revision = store.apply_live_delta(live.add_laps(first), revision=0, tracker="{}",
                                      status="ok", message="", source="t", clock_s=None,
                                      flag=None)
    assert revision == 1
    second = parsed[parsed["lap_number"] == 2][SOURCE].to_dict("records")
    with pytest.raises(LiveStateConflict):
        store.apply_live_delta(live.add_laps(second), revision=0, tracker="{}",
                               status="ok", message="", source="t", clock_s=None,
                               flag=None)
    assert len(store.table("laps", "r")) == len(first)  # nothing of the refused write


def test_every_stored_poll_moves_the_data_version(store: RaceStore) -> None:
    """Successful polls write no ingest-log row; the dashboard's caches still see each one."""
    parsed = parse_lap_file(synthetic_lap_file(), "synthetic.csv")
    store.create_live_race("r", {"series": "WEC"}, source="wec", url="test")
    live = LiveRace("r")
    versions, revision = [store.data_version()], 0
    for lap in (1, 2, 3):
        rows = parsed[parsed["lap_number"] == lap][SOURCE].to_dict("records")
        revision = store.apply_live_delta(live.add_laps(rows), revision=revision,
                                          tracker="{}", status="ok", message="", source="t",
                                          clock_s=None, flag=None)
        versions.append(store.data_version())
    assert versions == sorted(set(versions))  # strictly increasing
    log = store.ingest_log()
    assert not (log["kind"].eq("poll") & log["status"].eq("ok")).any()
    store.delete_race("r")
    assert store.data_version() not in versions


def test_data_version_is_remembered_until_the_next_write(store: RaceStore) -> None:
    """The version is read once per write (a viewer's refresh asks every 5 s); every write,
    committed or rolled back, makes the next call read it again."""
    first = store.data_version()
    writes = store.write_count
    assert store.data_version() == first and store.write_count == writes
    with pytest.raises(RuntimeError), store.transaction() as cur:
        cur.execute("INSERT INTO races (race_id) VALUES ('x')")
        raise RuntimeError("refused")
    assert store.write_count > writes and store.data_version() == first  # rolled back
    store.log_ingest(kind="import", source="t", status="ok")
    assert store.data_version() > first
