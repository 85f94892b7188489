"""Weather: stored on import (IMSA weather files, also beside ``<session>-laps.csv`` in a
folder), mapped onto race time, rain where the source says it, the Laps page's strip and
panel; on our fixture and on real IMSA races.

The fixture's race starts at 10:05:00 local time and its weather file at 10:05:00 UTC (a
track on UTC); the real files begin within a minute of the green flag (2021-2024).
"""

from __future__ import annotations

import glob
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from race.cli import is_lap_file_name, lap_files_in, main
from race.importer import import_lap_file
from race.present import weather as wx
from race.sources.feed import rain_from_text
from race.sources.results import parse_weather_file
from race.store import RaceStore
from tests import lapfixture
from tests.conftest import REALDATA, requires_realdata
from tests.test_app import _navigation_only, assert_clean, run_app  # noqa: F401


def _weather_bytes(shift_h: float = 0.0, rain: list[str] | None = None) -> bytes:
    rows = lapfixture.weather_rows()
    for i, row in enumerate(rows):
        row["TIME_UTC_SECONDS"] = str(int(int(row["TIME_UTC_SECONDS"]) + shift_h * 3600))
        if rain is not None:
            row["RAIN"] = rain[i % len(rain)]
    return lapfixture.render_table(rows, lapfixture.WEATHER_COLUMNS)


def _race_folder(folder: Path, *, prefix: str = "", shift_h: float = 0.0,
                 rain: list[str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{prefix}laps.csv").write_bytes(lapfixture.lap_file())
    (folder / f"{prefix}weather.csv").write_bytes(_weather_bytes(shift_h, rain))
    return folder / f"{prefix}laps.csv"


def _line(store: RaceStore, race_id: str) -> pd.DataFrame:
    end = float(store.table("laps", race_id, ["elapsed_s"])["elapsed_s"].max())
    return wx.timeline(store.table("weather", race_id), store.race(race_id), end)


# -- our fixture -----------------------------------------------------------------------------
@pytest.mark.parametrize("shift_h", [0.0, 4.0, -7.0, 13.0])
def test_file_readings_are_put_on_race_time(tmp_path: Path, store: RaceStore,
                                            shift_h: float) -> None:
    """Whatever the track's time zone (UTC−4 Sebring, UTC−7 Long Beach, UTC+13 …), the
    first reading is at the start."""
    path = _race_folder(tmp_path / "race", shift_h=shift_h)
    race_id = import_lap_file(store, path).race_id
    line = _line(store, race_id)
    assert line["t_s"].tolist() == pytest.approx([60.0 * i for i in range(16)])
    assert line["air"].iloc[0] == pytest.approx(70.0)  # IMSA: °F as the file has it
    assert line["rain"].isna().all()  # RAIN -1: not measured


def test_metric_units_for_wec_and_stated_race_time_kept() -> None:
    readings = pd.DataFrame({
        "time_utc": [datetime(2026, 6, 13, 14, 0), datetime(2026, 6, 13, 14, 1)],
        "air_temp_f": [68.0, 69.8], "track_temp_f": [95.0, 96.8], "humidity_pct": [50.0, 51.0],
        "pressure_inhg": [29.9, 29.9], "wind_speed_mph": [10.0, 12.0],
        "wind_direction_deg": [225.0, 230.0], "elapsed_s": [3605.25, 3665.0],
        "rain": pd.array([False, True], dtype="boolean")})
    line = wx.timeline(readings, {"series": "WEC", "start_time_of_day_s": 0.0})
    assert line["t_s"].tolist() == [3605.25, 3665.0]  # the feed's race time, not the clock
    assert line["air"].tolist() == [20.0, 21.0] and line["track"].tolist() == [35.0, 36.0]
    assert line["wind_speed"].tolist() == [16.1, 19.3]  # km/h
    assert wx.rain_periods(line) == [(3665.0, 3665.0)]
    now = wx.reading_at(line, wx.units_for("WEC"))
    assert (now.air, now.track, now.humidity, now.rain) == ("21.0 °C", "36.0 °C", "51 %",
                                                            "yes")
    assert (now.wind, now.wind_from) == ("19.3 km/h", "SW (230°)")
    assert wx.reading_at(line, wx.units_for("WEC"), 3000.0) is None
    assert wx.reading_at(line, wx.units_for("WEC"), 3610.0).rain == "no"


def test_rain_from_the_file_and_the_feed_text(tmp_path: Path, store: RaceStore) -> None:
    rain = ["0", "0", "1", "1", "0", "-1", "", "x"] * 2
    path = _race_folder(tmp_path / "race", rain=rain)
    race_id = import_lap_file(store, path).race_id
    stored = [None if pd.isna(v) else bool(v)
              for v in store.table("weather", race_id)["rain"].tolist()]
    assert stored[:8] == [False, False, True, True, False, None, None, None]
    line = _line(store, race_id)
    assert wx.rain_periods(line) == [(120.0, 240.0), (600.0, 720.0)]
    assert "rain in 4 of 10 readings" in wx.summary_text(line, wx.units_for("IMSA"))
    assert [rain_from_text(t) for t in ("sunny", "cloudy", "Light rain", "WET", "", None,
                                        "n/a")] == [False, False, True, True, None, None, None]


def test_wec_live_weather_text_is_stored_as_rain(store: RaceStore) -> None:
    from race.sources.feed import FeedSnapshot, weather_row

    row = weather_row(FeedSnapshot(source="wec", cars=(), clock_s=120.0,
                                   weather={"weather": "rain", "airTemp": 18.0}), 0.0)
    assert row["rain"] is True and row["elapsed_s"] == 120.0
    row = weather_row(FeedSnapshot(source="wec", cars=(), clock_s=120.0,
                                   weather={"airTemp": 18.0}), 0.0)
    assert "rain" not in row


def test_session_prefixed_files_in_a_folder_are_imported_with_their_weather(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder holding ``<session>-laps.csv`` beside ``<session>-weather.csv`` (the real
    Roar 2021 qualifying race) was refused by a folder import ("no lap files")."""
    folder = tmp_path / "2021" / "01-roar-before-the-24"
    _race_folder(folder, prefix="r24h-qualifying-race-")
    assert lap_files_in([str(folder)]) == [folder / "r24h-qualifying-race-laps.csv"]
    assert main(["import", str(folder), "--db", str(tmp_path / "race.duckdb")]) == 0
    with RaceStore(tmp_path / "race.duckdb") as store:
        (race_id,) = store.races()["race_id"]
        assert len(store.table("weather", race_id)) == 16
    assert not is_lap_file_name("r24h-qualifying-race-weather.csv")
    assert not is_lap_file_name("flaps.csv") and is_lap_file_name("23_Time Cards_Race.CSV")


def test_laps_page_strip_and_panel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "race.duckdb"
    with RaceStore(db) as store:
        import_lap_file(store, _race_folder(tmp_path / "race"))
    at = run_app(db, monkeypatch, "pages/laps.py")
    assert_clean(at)
    charts = [c.proto.spec for c in at.get("plotly_chart")]
    assert any('"name":"air (' in spec.replace(', ', ',').replace(': ', ':')
               for spec in charts)  # the strip under the lap chart
    assert [m.label for m in at.metric] == ["Air", "Track", "Humidity", "Wind", "Wind from",
                                            "Rain"]
    assert [m.value for m in at.metric] == ["71.5 °F", "88.0 °F", "60 %", "3.1 mph",
                                            "SSW (195°)", "—"]  # RAIN -1: not measured
    assert any("16 readings" in c.value for c in at.caption)
    bare = tmp_path / "bare" / "laps.csv"  # the same race without its weather file
    bare.parent.mkdir()
    bare.write_bytes(lapfixture.lap_file())
    db = tmp_path / "bare.duckdb"
    with RaceStore(db) as store:
        import_lap_file(store, bare)
    at = run_app(db, monkeypatch, "pages/laps.py")
    assert_clean(at)
    assert any(c.value == "No weather data for this race." for c in at.caption)
    assert any(i.value.startswith("No weather data for this race") for i in at.info)
    assert not at.metric


# -- real IMSA races -------------------------------------------------------------------------
def _real_weather_folders() -> list[Path]:
    return sorted(Path(p).parent for p in glob.glob(str(REALDATA / "imsa/*/*/*weather*.csv")))


@requires_realdata
@pytest.mark.realdata
def test_every_real_imsa_weather_file_is_found_by_a_folder_import() -> None:
    folders = _real_weather_folders()
    assert len(folders) >= 40
    from race.importer import _PREFIXED_STEM, _sibling
    for folder in folders:
        (lap_file,) = lap_files_in([str(folder)])
        prefixed = _PREFIXED_STEM.match(lap_file.stem)
        prefix = lap_file.name[: len(prefixed.group(1)) + 1].lower() if prefixed else ""
        found = _sibling(lap_file, ("weather.csv", r"26_weather.*\.csv$",
                                    prefix.replace(".", r"\.") + r"weather\.csv$"))
        assert found is not None and "weather" in found.name, folder


@requires_realdata
@pytest.mark.realdata
def test_real_sebring_weather_on_race_time(store: RaceStore) -> None:
    lap_file = REALDATA / "imsa" / "2023" / "07-sebring-international-raceway" / "laps.csv"
    if not lap_file.is_file():
        pytest.skip(f"{lap_file} is absent")
    race_id = import_lap_file(store, lap_file).race_id
    raw = parse_weather_file((lap_file.parent / "weather.csv").read_bytes())
    stored = store.table("weather", race_id)
    assert len(stored) == len(raw) > 600
    line = _line(store, race_id)
    end = float(store.table("laps", race_id, ["elapsed_s"])["elapsed_s"].max())
    assert len(line) == len(raw)
    assert 0.0 <= line["t_s"].iloc[0] <= 120.0  # the file starts with the race (UTC−4)
    assert abs(line["t_s"].iloc[-1] - end) < 15 * 60
    assert line["t_s"].diff().dropna().between(30, 120).all()
    assert 60 < line["air"].median() < 100  # °F in March in Florida
    now = wx.reading_at(line, wx.units_for("IMSA"), end / 2)
    assert now.air.endswith("°F") and now.rain == "—"


@requires_realdata
@pytest.mark.realdata
def test_every_real_imsa_weather_file_starts_with_its_race() -> None:
    """The offset rule (module docstring of race.present.weather) on every real file: the
    first reading lands within 75 s of the start. (Files may run on after a shortened race,
    Lime Rock 2021, or stop early, Watkins Glen 2022: ``timeline`` keeps the race's part.)
    One real file is empty (Long Beach 2023): the import skips it with a warning."""
    from race.errors import ParseError
    from race.sources.lapfile import parse_lap_file

    checked, empty = 0, []
    for folder in _real_weather_folders():
        (lap_file,) = lap_files_in([str(folder)])
        (weather_file,) = [p for p in folder.iterdir() if "weather" in p.name.lower()]
        try:
            readings = parse_weather_file(weather_file.read_bytes(), str(weather_file))
        except ParseError:
            empty.append(folder.name)
            continue
        laps = parse_lap_file(lap_file.read_bytes(), str(lap_file))
        start = float(((laps["hour_of_day_s"] - laps["elapsed_s"]) % 86400).median())
        t_s = wx.race_times_s(readings, start)
        assert 0.0 <= t_s[0] <= 75.0, (folder, t_s[0])
        checked += 1
    assert checked >= 40 and empty == ["08-long-beach-street-circuit"]
