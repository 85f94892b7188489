"""One writer, many readers: snapshots published by the writer (``RaceStore.publish_snapshot``,
``race.publish``), read by replicas (``ReplicaStore``, ``RACE_READ_FROM=DIR`` in the app).

Synthetic races only (tests/live_helpers.py); the browser test of the whole deployment is
tests/test_deploy_e2e.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from race.errors import StoreError
from race.importer import import_lap_file
from race.live.replay import Replay
from race.publish import SnapshotPublisher
from race.store import SNAPSHOT_POINTER, RaceStore, ReplicaStore, read_snapshot
from tests.conftest import ROOT
from tests.lapfixture import render
from tests.live_helpers import synthetic_rows
from tests.test_app import _navigation_only  # noqa: F401 (autouse fixture)

APP = str(ROOT / "app.py")


def lap_file(tmp: Path, name: str, seed: int = 3, minutes: float = 40.0) -> Path:
    path = tmp / "wec" / "2026" / name / "laps.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(render(synthetic_rows(seed=seed, minutes=minutes)))
    return path


@pytest.fixture
def two_races(tmp_path: Path) -> tuple[RaceStore, list[str]]:
    """A store with two finished races (imported)."""
    store = RaceStore(tmp_path / "race.duckdb")
    ids = [import_lap_file(store, lap_file(tmp_path, name, seed), series="WEC").race_id
           for name, seed in (("first", 3), ("second", 5))]
    yield store, ids
    store.close()


def snapshot_files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_a_replica_reads_what_the_writer_stored(two_races, tmp_path: Path) -> None:
    store, ids = two_races
    folder = tmp_path / "snap"
    result = store.publish_snapshot(folder)
    assert result.finished_written and result.snapshot.live_races == ()
    assert result.snapshot.version == store.data_version()
    with ReplicaStore(folder) as replica:
        assert replica.data_version() == store.data_version()
        # The version the views compute is the one the pointer names: same ingest log and
        # live states as the writer's.
        assert RaceStore.data_version(replica) == result.snapshot.version
        assert sorted(replica.races()["race_id"]) == sorted(ids)
        for race_id in ids:
            for name in ("laps", "stints", "pit_stops", "cars", "events", "flag_periods"):
                pd_equal(replica.table(name, race_id), store.table(name, race_id))
        assert len(replica.ingest_log()) == len(store.ingest_log())


def pd_equal(a, b) -> None:
    import pandas.testing as pdt
    pdt.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_finished_races_are_written_once_the_live_race_every_time(two_races,
                                                                   tmp_path: Path) -> None:
    store, ids = two_races
    folder = tmp_path / "snap"
    first = store.publish_snapshot(folder)
    again = store.publish_snapshot(folder)
    assert not again.finished_written
    assert again.snapshot.finished == first.snapshot.finished
    assert again.snapshot.live != first.snapshot.live  # a new name: readers keep the old
    # A replay is a live race: in the live part only, the finished part untouched.
    replay = Replay(store, ids[0], speed=float("inf"), race_id="replay-live")
    replay.run(until_s=600)
    store.set_live_active("replay-live", True)
    live = store.publish_snapshot(folder)
    assert live.snapshot.live_races == ("replay-live",)
    assert not live.finished_written and live.snapshot.finished == first.snapshot.finished
    with ReplicaStore(folder) as replica:
        pd_equal(replica.table("laps", "replay-live"), store.table("laps", "replay-live"))
        assert replica.live_states()["race_id"].tolist() == ["replay-live"]
        assert replica.live_state("replay-live")["tracker"] is None  # the writer's own
    # The race stops being followed: it moves to the finished part, written again.
    store.set_live_active("replay-live", False)
    done = store.publish_snapshot(folder)
    assert done.finished_written and done.snapshot.live_races == ()
    # So does a deletion of a finished race.
    store.delete_race(ids[1])
    deleted = store.publish_snapshot(folder)
    assert deleted.finished_written
    with ReplicaStore(folder) as replica:
        assert ids[1] not in set(replica.races()["race_id"])


def test_a_replica_switches_to_a_new_snapshot_and_keeps_the_old_one_open(
        two_races, tmp_path: Path) -> None:
    store, ids = two_races
    folder = tmp_path / "snap"
    store.publish_snapshot(folder)
    replica = ReplicaStore(folder, check_every_s=0.0)
    before = replica.data_version()
    old_con = replica._con
    store.delete_race(ids[0])
    published = store.publish_snapshot(folder)
    assert replica.data_version() == published.snapshot.version > before
    assert ids[0] not in set(replica.races()["race_id"])
    # A read that started on the old snapshot still works: its files may even be gone.
    for name in snapshot_files(folder) - {published.snapshot.live, published.snapshot.finished,
                                          SNAPSHOT_POINTER}:
        (folder / name).unlink()
    assert old_con.execute("SELECT count(*) FROM races").fetchone()[0] == 2
    replica.close()


def test_a_replica_never_writes(two_races, tmp_path: Path) -> None:
    store, ids = two_races
    folder = tmp_path / "snap"
    store.publish_snapshot(folder)
    with ReplicaStore(folder) as replica:
        for write in (lambda: replica.delete_race(ids[0]),
                      lambda: replica.set_live_active(ids[0], True),
                      lambda: replica.log_ingest(kind="x", source="y", status="ok"),
                      lambda: replica.publish_snapshot(tmp_path / "other")):
            with pytest.raises(StoreError, match="read-only replica"):
                write()
    assert len(store.races()) == 2


def test_a_folder_without_a_snapshot_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"no snapshot in .* start the publisher"):
        ReplicaStore(tmp_path)
    (tmp_path / SNAPSHOT_POINTER).write_text("not json")
    with pytest.raises(StoreError, match="not a snapshot pointer"):
        ReplicaStore(tmp_path)


def test_the_publisher_follows_changes_and_removes_old_files_after_the_grace(
        two_races, tmp_path: Path) -> None:
    store, ids = two_races
    folder = tmp_path / "snap"
    published: list[int] = []
    publisher = SnapshotPublisher(store, folder, check_every_s=0.05, min_interval_s=0.0,
                                  keep_s=0.3,
                                  on_publish=lambda r: published.append(r.snapshot.version))
    publisher.start()
    try:
        store.delete_race(ids[0])
        deadline = time.monotonic() + 10
        while published[-1] != store.data_version() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert published[-1] == store.data_version()
        first_files = snapshot_files(folder)
        assert len(first_files) > 3  # the old live and finished parts are still there
        time.sleep(0.4)
        store.delete_race(ids[1])
        deadline = time.monotonic() + 10
        while published[-1] != store.data_version() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        publisher.stop()
    current = read_snapshot(folder)
    assert current is not None and current.version == store.data_version()
    # Past the grace period only the current snapshot's files and the files replaced by the
    # newest publish remain.
    left = snapshot_files(folder)
    assert {current.live, current.finished, SNAPSHOT_POINTER} <= left
    assert len(left) <= 5, left
    assert publisher.status()["published"] == len(published)


def test_replay_publish_on_the_command_line(tmp_path: Path) -> None:
    laps = lap_file(tmp_path, "cli", minutes=20)
    folder = tmp_path / "snap"
    run = subprocess.run(
        [sys.executable, "-m", "race", "replay", str(laps), "--speed", "max",
         "--db", str(tmp_path / "race.duckdb"), "--publish", str(folder)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "published data version" in run.stdout
    pointer = json.loads((folder / SNAPSHOT_POINTER).read_text())
    with RaceStore(tmp_path / "race.duckdb", read_only=True) as store:
        assert pointer["version"] == store.data_version()  # the last change is published
    bad = subprocess.run(
        [sys.executable, "-m", "race", "replay", str(laps), "--speed", "max",
         "--db", str(tmp_path / "other.duckdb"), "--publish", str(laps / "nested")],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error: cannot publish"), bad.stderr
    assert "Traceback" not in bad.stderr


def test_the_app_as_a_replica(two_races, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    """RACE_READ_FROM: every page reads the snapshot, nothing writes, the Data page's write
    buttons are disabled and say why; the database named by RACE_DB is never opened."""
    store, ids = two_races
    folder = tmp_path / "snap"
    version = store.publish_snapshot(folder).snapshot.version
    db = tmp_path / "never.duckdb"
    monkeypatch.setenv("RACE_READ_FROM", str(folder))
    monkeypatch.setenv("RACE_DB", str(db))
    monkeypatch.setenv("RACE_MONITOR", "on")  # a replica runs no monitor even so
    monkeypatch.setenv("RACE_BACKGROUND_VIDEO", str(tmp_path / "no-video.mp4"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    sidebar = "\n".join(c.value for c in at.sidebar.caption)
    assert f"Read-only replica · data version {version}" in sidebar
    assert "Live monitor" in sidebar
    load = [b for b in at.sidebar.button if b.label == "Load sample data"]
    assert load and load[0].disabled
    for page in ("pages/predictions.py", "pages/anomalies.py", "pages/data.py"):
        at.switch_page(page)
        at.run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert not at.error, (page, [e.value for e in at.error])
    assert any("read-only replica" in i.value for i in at.info)
    buttons = {b.label: b for b in at.button}
    for label in ("Import", "List races", "Delete"):
        assert buttons[label].disabled, label
    assert not db.exists()
    # A new snapshot is picked up by the next run.
    store.delete_race(ids[0])
    newer = store.publish_snapshot(folder).snapshot.version
    time.sleep(0.6)  # the replica looks at CURRENT at most every 0.5 s
    at.run()
    sidebar = "\n".join(c.value for c in at.sidebar.caption)
    assert f"data version {newer}" in sidebar
    assert not db.exists()


def test_monitor_publish_on_the_command_line(two_races, tmp_path: Path) -> None:
    """``monitor --publish``: a snapshot at the start (the stored races) and at the end."""
    store, ids = two_races
    store.close()
    calendar = tmp_path / "calendar.csv"  # one race, far ahead: the monitor never fetches
    calendar.write_text("series,season,event,track,start_utc,duration_h,source,feed_url,"
                        "flag_url,session\nWEC,2099,Far Future 6h,Track,2099-06-13T14:00:00Z,"
                        "6,wec,https://example.invalid/data.json,,Race\n")
    folder = tmp_path / "snap"
    run = subprocess.run(
        [sys.executable, "-m", "race", "monitor", "--db", str(tmp_path / "race.duckdb"),
         "--calendar", str(calendar), "--for", "1", "--publish", str(folder)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "published data version" in run.stdout and "monitor" in run.stdout
    with ReplicaStore(folder) as replica:
        assert sorted(replica.races()["race_id"]) == sorted(ids)


def test_the_nginx_configuration_is_valid(tmp_path: Path) -> None:
    """deploy/render_nginx.py renders a configuration nginx accepts (``nginx -t``), with
    the sticky route, the websocket upgrade and every replica."""
    import shutil

    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    out = tmp_path / "nginx.conf"
    rendered = subprocess.run(
        [sys.executable, "deploy/render_nginx.py", "--prefix", str(tmp_path / "nginx"),
         "--listen", "127.0.0.1:18080", "--replica", "127.0.0.1:18601", "--replica",
         "127.0.0.1:18602", "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert rendered.returncode == 0, rendered.stderr
    text = out.read_text()
    for needed in ("hash $pitwall_route consistent", "server 127.0.0.1:18601 max_fails=2",
                   "server 127.0.0.1:18602", "proxy_set_header Upgrade $http_upgrade",
                   "proxy_http_version 1.1", "proxy_next_upstream error timeout"):
        assert needed in text, needed
    assert not re.search(r"@[A-Z]+@", text)  # every placeholder filled
    bad = subprocess.run([sys.executable, "deploy/render_nginx.py", "--prefix",
                          str(tmp_path / "x"), "--listen", "nowhere", "--replica", "a:1"],
                         cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error:")
    if not Path(nginx).exists():
        pytest.skip(f"nginx is not installed at {nginx} (apt-get install -y nginx)")
    check = subprocess.run([nginx, "-t", "-q", "-p", str(tmp_path / "nginx"), "-e",
                            str(tmp_path / "nginx" / "error.log"), "-c", str(out)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
