"""Crash safety: the process is killed (SIGKILL) in the middle of a live poll's write and of
an import's write. On restart the database opens, holds no partial write, and ingestion
resumes to the complete race."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from race.sources.replay import FeedBuilder
from race.store import RaceStore
from tests.conftest import ROOT
from tests.lapfixture import render
from tests.live_helpers import (
    FEED_PATHS,
    FeedServer,
    FeedState,
    assert_matches_official,
    flag_windows,
    official_frames,
    poll_times,
    synthetic_rows,
)

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

# Runs the command line with one change: after the N-th bulk insert into ``laps`` the
# process writes a marker file and sleeps inside the open transaction, waiting to be killed.
CHILD = """
import os, sys, time
sys.path.insert(0, {root!r})
from race import store as store_module
from race.schema import LAPS
calls = [0]
def hang_after(table, frame):
    hang = os.environ.get("HANG_AFTER_LAPS")
    if hang and table is LAPS and frame is not None and not frame.empty:
        calls[0] += 1
        if calls[0] >= int(hang):
            with open(os.environ["HANG_MARKER"], "w") as marker:
                marker.write(str(len(frame)))
            time.sleep(120)
def wrap(name):
    original = getattr(store_module.RaceStore, name)
    def insert(cur, table, frame, *args, **kwargs):
        result = original(cur, table, frame, *args, **kwargs)
        hang_after(table, frame)
        return result
    setattr(store_module.RaceStore, name, staticmethod(insert))
for name in ("_insert", "_bulk_insert"):  # live writes, import writes
    if hasattr(store_module.RaceStore, name):
        wrap(name)
from race.cli import main
sys.exit(main(sys.argv[1:]))
"""


def child(tmp_path: Path, args: list[str], hang_after: int | None) -> subprocess.Popen:
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(root=str(ROOT)))
    env = {k: v for k, v in os.environ.items() if k not in ("HANG_AFTER_LAPS", "RACE_DB")}
    env["HANG_MARKER"] = str(tmp_path / "inside")
    if hang_after:
        env["HANG_AFTER_LAPS"] = str(hang_after)
    return subprocess.Popen([sys.executable, str(script), *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill_inside(proc: subprocess.Popen, marker: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the child never reached the write"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def assert_consistent(store: RaceStore, race_id: str) -> int:
    """What is stored is one whole committed poll: tracker state, laps, stints and cars
    agree with each other (a partial write would leave them disagreeing)."""
    laps = store.table("laps", race_id)
    state = store.live_state(race_id)
    tracker = json.loads(state["tracker"])
    stored = laps.groupby("number")["lap_number"].agg(["max", "size"])
    for number, track in tracker["cars"].items():
        if track["laps"]:
            assert stored.loc[number, "max"] == track["laps"] == stored.loc[number, "size"]
    assert store.table("stints", race_id)["laps"].sum() == len(laps)
    # a car's lap count is written with the races row (every tenth poll), so it may be
    # behind its laps, never ahead, and every car with laps has its row
    cars = store.table("cars", race_id).set_index("number")["laps"]
    assert set(stored.index) <= set(cars.index)
    assert (cars.loc[stored.index] <= stored["max"]).all()
    return len(laps)


def test_kill_during_a_poll_then_resume(tmp_path: Path) -> None:
    frames = official_frames(render(synthetic_rows()))
    builder = FeedBuilder(frames["laps"], frames["flag_periods"], event="Crash Test")
    times = poll_times(builder, 10.0, builder.end_s + 30)
    state = FeedState(builder=builder, layout="wec-2017", script=times)
    db = tmp_path / "race.duckdb"
    marker = tmp_path / "inside"
    with FeedServer(state) as server:
        url = server.url(FEED_PATHS["wec-2017"][0])
        args = ["live", "--source", "wec", "--url", url, "--db", str(db), "--interval",
                "0.01", "--retries", "2", "--retry-delay", "0", "--json", "--event",
                "Crash Test", "--max-polls"]
        proc = child(tmp_path, [*args, str(len(times))], hang_after=60)
        kill_inside(proc, marker)
        killed_at = state.script_index
        with RaceStore(db) as store:  # opens: no lock left behind, no corruption
            race_id = store.races()["race_id"].iloc[0]
            before = assert_consistent(store, race_id)
            revision = int(store.live_state(race_id)["revision"])
        assert before > 0 and revision >= 59
        # the killed poll's payload was never committed: the feed shows it again
        state.script_index = killed_at - 1
        proc = child(tmp_path, [*args, str(len(times) - killed_at + 5)], hang_after=None)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        summary = json.loads(out)
        assert summary["race_id"] == race_id and summary["polls_failed"] == 0
    with RaceStore(db) as store:
        assert_consistent(store, race_id)
        assert_matches_official(store, race_id, frames, pit_tolerance_s=12.0,
                                windows=flag_windows(builder, times))


def test_kill_during_an_import_keeps_the_previous_version(tmp_path: Path) -> None:
    rows = synthetic_rows()
    laps_file = tmp_path / "wec" / "2026" / "crash-6h" / "laps.csv"
    laps_file.parent.mkdir(parents=True)
    db = tmp_path / "race.duckdb"
    marker = tmp_path / "inside"
    # a first import that is killed inside its write: nothing of it may remain
    laps_file.write_bytes(render(rows))
    proc = child(tmp_path, ["import", str(laps_file), "--db", str(db)], hang_after=1)
    kill_inside(proc, marker)
    with RaceStore(db) as store:
        assert store.races().empty
        assert store.cursor().execute("SELECT count(*) FROM laps").fetchall()[0][0] == 0
        assert store.cursor().execute("SELECT count(*) FROM stints").fetchall()[0][0] == 0
    # the same import again, not killed: complete
    proc = child(tmp_path, ["import", str(laps_file), "--db", str(db)], hang_after=None)
    assert proc.wait(timeout=120) == 0, proc.communicate()
    with RaceStore(db) as store:
        race_id = store.races()["race_id"].iloc[0]
        assert len(store.table("laps", race_id)) == len(rows)
    # a corrected file replacing the race, killed mid-replace: the first version survives
    marker.unlink()
    laps_file.write_bytes(render(rows[: len(rows) // 2]))
    proc = child(tmp_path, ["import", str(laps_file), "--db", str(db)], hang_after=1)
    kill_inside(proc, marker)
    with RaceStore(db) as store:
        assert len(store.table("laps", race_id)) == len(rows)
        assert store.table("stints", race_id)["laps"].sum() == len(rows)
