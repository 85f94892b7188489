"""The Strategy page under AppTest on our synthetic races (two runnings of one track)."""

from __future__ import annotations

from pathlib import Path

import pytest

from race.importer import import_lap_file
from race.store import RaceStore
from tests.strategy_fixture import lap_file_bytes
from tests.test_app import _navigation_only, assert_clean, run_app  # noqa: F401


@pytest.fixture(scope="module")
def strategy_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("strategy")
    db = folder / "race.duckdb"
    with RaceStore(db) as store:
        for year, fcy in ((2023, (1500.0, 2000.0)), (2024, (3600.0, 4200.0))):
            path = folder / "imsa" / str(year) / "testring-3h" / "laps.csv"
            path.parent.mkdir(parents=True)
            path.write_bytes(lap_file_bytes(hours=3.0, fcy=fcy))
            import_lap_file(store, path, series="IMSA")
    return db


def test_a_finished_race_shows_final_stints_stops_and_drive_time(
        strategy_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13 item 5: after the chequered flag no pit window and no what-if."""
    at = run_app(strategy_db, monkeypatch, "pages/strategy.py")
    assert_clean(at)
    captions = " ".join(c.value for c in at.caption)
    assert "Race finished at" in captions
    text = " ".join(m.value for m in at.markdown)
    assert "Final stints and stops" in text and "Drive time" in text
    assert "Pit window" not in text and "Stint plan" not in text
    assert not at.slider and not at.get("select_slider")
    final = at.dataframe[0].value
    assert len(final) == 7 and {"Stints", "Stops", "Time in the pits"} <= set(final.columns)
    assert (final["Stops"].astype(int) >= 1).all()
    drivers = at.dataframe[1].value
    assert not drivers["Status"].astype(str).str.contains("driving").any()


def test_strategy_page_shows_card_field_and_drivers(strategy_db: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_app(strategy_db, monkeypatch, "pages/strategy.py")
    at.toggle(key="pw_strategy_replay").set_value(True).run()
    at.select_slider(key="pw_strategy_t").set_value(120).run()
    assert_clean(at)
    text = " ".join(m.value for m in at.markdown)
    assert "Pit window:" in text and "Stop cost:" in text and "Finish:" in text
    assert "history: 1 other race(s)" in " ".join(c.value for c in at.caption)
    assert len(at.dataframe) >= 4          # what-if, stint plan, field, drivers
    field = at.dataframe[2].value
    assert len(field) == 7
    # what-if: stop 5 laps from now
    at.slider(key="pw_strategy_k").set_value(5).run()
    assert_clean(at)
    assert "Stop at the end of lap" in " ".join(m.value for m in at.markdown)


def test_strategy_page_as_of_an_earlier_moment(strategy_db: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_app(strategy_db, monkeypatch, "pages/strategy.py")
    at.toggle(key="pw_strategy_replay").set_value(True).run()
    at.select_slider(key="pw_strategy_t").set_value(62).run()
    assert_clean(at)
    assert "As of 1:02:00" in " ".join(c.value for c in at.caption)
