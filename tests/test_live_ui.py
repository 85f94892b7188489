"""The live monitor in the app (AppTest): sidebar status, and the Data page's buttons that
follow a feed by hand and replay a stored race; the monitor off by default in tests."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from race.importer import import_lap_file
from race.store import RaceStore
from tests.conftest import ROOT
from tests.lapfixture import render
from tests.live_helpers import FeedServer, FeedState, synthetic_rows
from tests.test_app import _navigation_only  # noqa: F401 (autouse fixture)

APP = str(ROOT / "app.py")
HEADER = "series,season,event,track,start_utc,duration_h,source,feed_url,flag_url,session\n"


@pytest.fixture
def monitored_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The app with its monitor on, a calendar of our own and a stored race."""
    from ui.state import get_live_monitor

    calendar = tmp_path / "calendar.csv"
    calendar.write_text(HEADER + "WEC,2099,Far Future 6h,Track,2099-06-13T14:00:00Z,6,wec,"
                        "https://example.invalid/data.json,,Race\n")
    laps_file = tmp_path / "wec" / "2026" / "ui-replay" / "laps.csv"
    laps_file.parent.mkdir(parents=True)
    laps_file.write_bytes(render(synthetic_rows()))
    db = tmp_path / "race.duckdb"
    with RaceStore(db) as store:
        race_id = import_lap_file(store, laps_file, series="WEC").race_id
    monkeypatch.setenv("RACE_MONITOR", "on")
    monkeypatch.setenv("RACE_CALENDAR", str(calendar))
    monkeypatch.setenv("RACE_DB", str(db))
    monkeypatch.setenv("RACE_BACKGROUND_VIDEO", str(tmp_path / "no-video.mp4"))
    get_live_monitor.clear()
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    yield at, race_id
    monitor = get_live_monitor(str(db))
    if monitor is not None:
        monitor.shutdown()
    get_live_monitor.clear()


def captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.sidebar.caption)


def test_sidebar_shows_the_monitor_and_the_next_race(monitored_app) -> None:
    at, _ = monitored_app
    assert not at.exception
    text = captions(at)
    assert "Live monitor: **idle** until the next race" in text
    assert "Next: WEC Far Future 6h, in " in text


def test_data_page_replays_a_race_and_follows_a_feed(monitored_app) -> None:
    at, race_id = monitored_app
    at.switch_page("pages/data.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.selectbox(key="pw_replay_race").select(race_id)
    at.select_slider(key="pw_replay_speed").set_value("max")
    at.button(key="pw_replay_start").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    deadline = time.monotonic() + 60
    while "done" not in captions(at) and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()
    assert f"Replay replay-{race_id}: done" in captions(at)
    # successful polls are not in the ingest log: the replayed race's last poll is listed
    live = next(df.value for df in at.dataframe if "Polls ok" in df.value.columns)
    assert f"replay-{race_id}" in set(live["Race ID"]) and live["Polls ok"].max() > 0
    state = FeedState()  # a feed that serves nothing: the monitor reports the failures
    with FeedServer(state) as server:
        at.text_input(key="pw_live_url").input(server.url("/wec/data.json"))
        at.button(key="pw_live_start").click()
        at.run()
        assert not at.exception
        assert any("Following" in s.value for s in at.success)
        deadline = time.monotonic() + 30
        while "failed" not in captions(at) and time.monotonic() < deadline:
            time.sleep(0.5)
            at.run()
        assert "Following manual-1" in captions(at) and "Last error" in captions(at)
        stop = next(b for b in at.button if b.label.startswith("Stop following"))
        stop.click()
        at.run()
    assert "Following manual-1" not in captions(at)


def test_monitor_is_off_unless_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ui.state import get_live_monitor

    get_live_monitor.clear()
    monkeypatch.setenv("RACE_DB", str(tmp_path / "race.duckdb"))
    monkeypatch.setenv("RACE_BACKGROUND_VIDEO", str(tmp_path / "no-video.mp4"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    assert "Live monitor: not running" in captions(at)
    at.switch_page("pages/data.py")
    at.run()
    assert any("monitor is off" in i.value for i in at.info)


def test_a_feed_not_understood_is_shown_in_red(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A live race whose payloads lack a field the parser needs: the sidebar and the Data
    page say "layout not understood" in red (monitor off: read from the live state)."""
    import json

    from race.live.session import LiveConfig, LiveSession
    from race.monitor import problem_lines
    from tests.test_live_wec2026 import payload
    from ui.state import get_live_monitor

    db = tmp_path / "race.duckdb"
    data = payload()
    del data["params"]["elapsedTime"]
    with RaceStore(db) as store:
        session = LiveSession(store, LiveConfig("wec", "http://127.0.0.1/data.json",
                                                race_id="drifting"), recorder=False)
        session.ingest({"main": json.dumps(data).encode()}, 0.0)
        assert problem_lines({"following": [{"race_id": "drifting", "event": None,
                                             "key": "k", "problem": session.problem}]}) == [
            "drifting: layout not understood: missing params.elapsedTime"]
    get_live_monitor.clear()
    monkeypatch.setenv("RACE_DB", str(db))
    monkeypatch.setenv("RACE_BACKGROUND_VIDEO", str(tmp_path / "no-video.mp4"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    expected = "drifting: layout not understood: missing params.elapsedTime"
    assert expected in [e.value for e in at.sidebar.error]
    at.switch_page("pages/data.py")
    at.run()
    assert not at.exception
    assert expected in [e.value for e in at.main.error]
