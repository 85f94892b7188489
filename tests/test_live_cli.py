"""``python -m race live`` and ``replay`` as a user runs them (subprocesses, real HTTP)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from race.sources.replay import FeedBuilder
from race.store import RaceStore
from tests.conftest import ROOT
from tests.lapfixture import render
from tests.live_helpers import (
    FEED_PATHS,
    FeedServer,
    FeedState,
    official_frames,
    poll_times,
    synthetic_rows,
)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "race", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_live_command_polls_records_and_replays(tmp_path: Path) -> None:
    rows = synthetic_rows()
    frames = official_frames(render(rows))
    builder = FeedBuilder(frames["laps"], frames["flag_periods"], event="CLI Test")
    times = poll_times(builder, 10.0, builder.end_s + 30)
    state = FeedState(builder=builder, layout="imsa", script=times)
    db = tmp_path / "race.duckdb"
    main, flag = FEED_PATHS["imsa"]
    with FeedServer(state) as server:
        state.add_fault(main, "500")  # retried: still a good poll
        proc = run("live", "--source", "imsa", "--url", server.url(main), "--flag-url",
                   server.url(flag), "--db", str(db), "--event", "CLI Test", "--interval",
                   "0.01", "--max-polls", str(len(times)), "--retries", "2",
                   "--retry-delay", "0", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["polls"] == len(times) and summary["polls_failed"] == 0
    assert summary["laps_stored"] == len(rows)
    race_id = summary["race_id"]
    assert race_id.startswith("imsa-") and "cli-test" in race_id
    recording = db.parent / "raw" / race_id
    assert any(recording.glob("imsa-*.jsonl.gz"))
    # the recorded session replays through the same path into its own race
    proc = run("replay", str(recording), "--speed", "max", "--db", str(db), "--json")
    assert proc.returncode == 0, proc.stderr
    replayed = json.loads(proc.stdout)
    assert replayed["laps_stored"] == len(rows) and replayed["done"]
    with RaceStore(db, read_only=True) as store:
        a = store.table("laps", race_id)[["number", "lap_number", "lap_time_s", "elapsed_s"]]
        b = store.table("laps", replayed["race_id"])[["number", "lap_number", "lap_time_s",
                                                      "elapsed_s"]]
        assert a.equals(b)


def test_replay_a_stored_race(tmp_path: Path) -> None:
    laps_file = tmp_path / "wec" / "2026" / "cli-replay" / "laps.csv"
    laps_file.parent.mkdir(parents=True)
    rows = synthetic_rows()
    laps_file.write_bytes(render(rows))
    db = tmp_path / "race.duckdb"
    assert run("import", str(laps_file), "--db", str(db), "--series", "WEC").returncode == 0
    proc = run("replay", "wec-2026-cli-replay-race", "--speed", "max", "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    assert "replay-wec-2026-cli-replay-race" in proc.stdout and f"{len(rows)} laps" in \
        proc.stdout


def test_bad_arguments_get_one_line(tmp_path: Path) -> None:
    db = str(tmp_path / "race.duckdb")
    for args, text in (
            (["replay", "nope", "--db", db], "no race 'nope'"),
            (["replay", "x", "--speed", "5000", "--db", db], "speed 5000 is out of range"),
            (["live", "--source", "wec", "--url", "http://127.0.0.1:9/x", "--interval",
              "fast", "--db", db], "--interval must be a number"),
            (["live", "--source", "wec", "--url", "http://127.0.0.1:9/x", "--flag-url",
              "http://127.0.0.1:9/y", "--db", db], "--flag-url is for --source imsa")):
        proc = run(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert text in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
