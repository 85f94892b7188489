"""The race feed in the app (``AppTest``): the Race feed page with its filters, and the latest
15 events beside the Live board, on a generated sample race and on Le Mans 2024."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from race.analysis.events import KINDS
from race.importer import import_lap_file
from race.present.feed import LATEST
from race.sample import load_sample_race
from race.store import RaceStore
from tests.conftest import requires_realdata
from tests.test_app import LE_MANS, _navigation_only, assert_clean, run_app  # noqa: F401

RACE_ID = "wec-2025-sample-3h-seed2-race"


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """A generated 3 h race and its stored events (read before the app holds the file)."""
    folder = tmp_path_factory.mktemp("feed")
    db = folder / "race.duckdb"
    with RaceStore(db) as store:
        load_sample_race(store, hours=3.0, seed=2, series="WEC", folder=folder)
        return db, store.events(RACE_ID)


def feed_frame(at):
    return at.dataframe[0].value  # the only table of the page


def test_race_feed_page_lists_every_event_and_filters(sample: tuple,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    db, stored = sample
    at = run_app(db, monkeypatch, "pages/feed.py")
    assert_clean(at)
    table = feed_frame(at)
    assert len(table) == len(stored) > 100
    assert list(table.columns) == ["Time", "Kind", "Car", "Class", "Lap", "Event"]
    at.multiselect(key="pw_feed_kinds").set_value(["pit_in"]).run()
    assert_clean(at)
    table = feed_frame(at)
    assert len(table) == int((stored["kind"] == "pit_in").sum())
    assert set(table["Kind"]) == {"Pit in"}
    number = stored.loc[stored["kind"] == "pit_in", "number"].iloc[0]
    at.multiselect(key=f"pw_feed_cars::{RACE_ID}").set_value([number]).run()
    assert_clean(at)
    mine = stored[(stored["kind"] == "pit_in") & (stored["number"] == number)]
    assert len(feed_frame(at)) == len(mine)
    assert set(KINDS) >= set(stored["kind"])


def test_live_page_shows_the_latest_events(sample: tuple,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    db, stored = sample
    at = run_app(db, monkeypatch)
    assert_clean(at)
    feeds = [h.proto.body for h in at.get("html") if 'class="pw-feed"' in h.proto.body]
    assert len(feeds) == 1
    assert feeds[0].count("<li>") == LATEST
    last = stored.iloc[-1]
    assert last["text"].split(" ")[0] in feeds[0]  # the newest event is listed


@requires_realdata
@pytest.mark.realdata
@pytest.mark.parametrize("page", ["pages/live.py", "pages/feed.py"])
def test_feed_on_real_24h_race(page: str, tmp_path_factory: pytest.TempPathFactory,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    if not LE_MANS.is_file():
        pytest.skip(f"{LE_MANS} is absent")
    db = tmp_path_factory.mktemp("lemans") / "race.duckdb"
    with RaceStore(db) as store:
        import_lap_file(store, LE_MANS)
    at = run_app(db, monkeypatch, page)
    assert_clean(at)
    if page == "pages/feed.py":
        assert len(feed_frame(at)) > 3000
