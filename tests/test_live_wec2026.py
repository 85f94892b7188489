"""The WEC 2026 live layout (DATA.md §5), quirk by quirk, on payloads of our own making:
``timestamp`` 0 (staleness from the content), ``elapsedTime``, flag periods anchored at
``params.startTime``, crews keyed by ``driverId`` shown "First LAST", ms gaps, top speed,
``lastPassingTime`` 0, weather; and layout drift made loud by the live session."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest

from race.errors import ParseError
from race.live.session import DRIFT_POLLS, LiveConfig, LiveSession
from race.live.tracker import LapTracker
from race.sources.feed import validate_snapshot, weather_row
from race.sources.replay import FeedBuilder
from race.sources.wec_live import (
    first_last,
    flag_periods_2026,
    parse_wec,
    surname_first,
)
from race.store import RaceStore
from tests.live_helpers import official_frames, synthetic_lap_file

START = 1_781_000_000_000  # epoch ms of the start


def _driver(driver_id: int, first: str, last: str) -> dict:
    return {"driverId": driver_id, "number": driver_id, "firstName": first, "lastName": last,
            "shortName": f"{first[0]}. {last}", "license": "Platinum", "country": "JPN"}


def payload(elapsed: float = 3605.25, *, laps: tuple[int, int] = (30, 28),
            last_ms: tuple[int, int] = (209_000, 231_500)) -> dict:
    """A small 2026 payload written by hand: two cars, one of them with the crew whose ids
    are 2–4 while its ``driverId`` is 1 (seen in a real payload)."""
    return {
        "params": {"sessionId": 7, "sessionName": "Race", "eventName": "N/A",
                   "timestamp": 0, "elapsedTime": elapsed, "remaining": 21600 - elapsed,
                   "startTime": START, "duration": 21600, "raceState": "Grn",
                   "stopTime": 0, "stoppedSinceTime": 0, "safetyCar": "N/A",
                   "airTemp": 21.5, "trackTemp": 33.0, "humidity": 48.0, "pressure": 1009.0,
                   "windSpeed": 12.0, "windDirection": 225.0},
        "progressFlagState": [
            {"startTime": START, "state": "green", "current": False, "percentProgress": 0},
            {"startTime": START + 1_200_000, "state": "full_yellow", "current": False},
            {"startTime": START + 1_500_500, "state": "green", "current": False},
            {"startTime": START + 3_000_000, "state": "safety_car", "current": True}],
        "bestSectors": [], "bestTimesByCategory": [],
        "entries": [
            {"number": "7", "ranking": 1, "categoryPosition": 1, "category": "HYPERCAR",
             "categoryId": 1, "team": "Toyota Gazoo Racing", "car": "Toyota TR010",
             "lap": laps[0], "lastlap": "3:29.000", "lastlapTime": last_ms[0],
             "bestLap": "3:27.100", "bestlapTime": 207_100, "pitstop": 2, "state": "Run",
             "sector": 2, "gap": "-", "gapPrev": "-", "classGap": "-", "gapTime": 0,
             "gapPrevTime": 0, "classGapTime": 0, "gapLaps": "-", "speed": "349.58",
             "lastPassingTime": 0, "driver": "KOBAYASHI Kamui", "driverId": 2,
             "drivers": [_driver(1, "Mike", "Conway"), _driver(2, "Kamui", "Kobayashi"),
                         _driver(3, "Nyck", "DE VRIES")]},
            {"number": "51", "ranking": 2, "categoryPosition": 1, "category": "LMGT3",
             "categoryId": 3, "team": "AF Corse", "car": "Ferrari 296 LMGT3",
             "lap": laps[1], "lastlap": "3:51.500", "lastlapTime": last_ms[1],
             "bestLap": "3:50.004", "bestlapTime": 230_004, "pitstop": 1, "state": "In",
             "sector": 3, "gap": "-", "gapPrev": "-", "classGap": "-", "gapTime": 415_250,
             "gapPrevTime": 415_250, "classGapTime": 0, "gapLaps": "2 laps",
             "speed": "281.10", "lastPassingTime": 0, "driver": "PIER GUIDI Alessandro",
             "driverId": 1,
             "drivers": [_driver(2, "Alessandro", "PIER GUIDI"),
                         _driver(3, "James", "CALADO"), _driver(4, "Antonio", "GIOVINAZZI")]},
        ]}


def _bytes(data: dict) -> bytes:
    return json.dumps(data).encode()


# -- the parser ------------------------------------------------------------------------------
def test_layout_clock_and_session() -> None:
    snap = parse_wec(_bytes(payload()))
    assert snap.layout == "wec-2026"
    assert snap.feed_time_ms is None  # timestamp 0 is no clock
    assert snap.clock_s == 3605.25 and snap.remaining_s == 21600 - 3605.25
    assert snap.event is None and snap.session == "Race"  # "N/A": the calendar names it
    assert snap.start_epoch_ms == START
    assert snap.missing == ()


def test_flag_periods_from_start_time() -> None:
    snap = parse_wec(_bytes(payload()))
    assert snap.flag_periods == (("GF", 0.0, 1200.0), ("FCY", 1200.0, 1500.5),
                                 ("GF", 1500.5, 3000.0), ("SF", 3000.0, None))
    assert snap.flag == "SF"  # the current item
    assert snap.flag_history == ((0.0, "GF"), (1200.0, "FCY"), (1500.5, "GF"), (3000.0, "SF"))
    chequered = payload()
    chequered["params"]["raceState"] = "Chk"
    assert parse_wec(_bytes(chequered)).flag == "FF"
    # consecutive items with one flag are one period; items out of order are sorted
    items = [{"startTime": START + 20_000, "state": "green"},
             {"startTime": START, "state": "green"},
             {"startTime": START + 60_000, "state": "red"}]
    assert flag_periods_2026(items, START) == (("GF", 0.0, 60.0), ("RF", 60.0, None))


def test_driver_from_driver_id_as_first_last() -> None:
    cars = {c.number: c for c in parse_wec(_bytes(payload())).cars}
    toyota, ferrari = cars["7"], cars["51"]
    assert toyota.driver == "Kamui KOBAYASHI" and toyota.driver_index == 2
    assert toyota.crew == ("Mike CONWAY", "Kamui KOBAYASHI", "Nyck DE VRIES")
    # driverId 1 points to no one (ids 2–4): the driver text decides
    assert ferrari.driver == "Alessandro PIER GUIDI" and ferrari.driver_index == 1
    assert ferrari.crew == ("Alessandro PIER GUIDI", "James CALADO", "Antonio GIOVINAZZI")
    assert any("driverId 1" in w for w in parse_wec(_bytes(payload())).warnings)
    unknown = payload()
    unknown["entries"][1]["driver"] = "NEWMAN Paul"
    ferrari = parse_wec(_bytes(unknown)).cars[1]
    assert ferrari.driver == "Paul NEWMAN" and ferrari.driver_index is None


def test_names() -> None:
    assert surname_first("KOBAYASHI Kamui") == "Kamui KOBAYASHI"
    assert surname_first("VAN DER LINDE Kelvin") == "Kelvin VAN DER LINDE"
    assert surname_first("Kamui KOBAYASHI") == "Kamui KOBAYASHI"  # already First LAST
    assert surname_first("") is None
    assert first_last("Kévin", "Estre") == "Kévin ESTRE"


def test_gaps_speed_and_times() -> None:
    toyota, ferrari = parse_wec(_bytes(payload())).cars
    assert (toyota.gap_ms, toyota.gap_laps) == (None, None)  # the leader: 0 and "-"
    assert (ferrari.gap_ms, ferrari.interval_ms, ferrari.class_gap_ms) == (
        415_250, 415_250, None)
    assert ferrari.gap_laps == 2
    assert toyota.top_speed_kph == 349.58 and toyota.speed_kph is None  # top, not average
    assert toyota.last_passing_ms is None  # 0 = unknown
    assert (toyota.laps, toyota.last_lap_ms, toyota.best_lap_ms) == (30, 209_000, 207_100)
    assert ferrari.in_pit and ferrari.state == "In" and ferrari.pit_stops == 1
    assert (ferrari.position, ferrari.class_position, ferrari.car_class) == (2, 1, "LMGT3")


def test_probe_view() -> None:
    view = parse_wec(_bytes(payload())).as_json()
    assert view["layout"] == "wec-2026" and view["source"] == "wec"
    session = view["session"]
    assert session["elapsed_s"] == 3605.25 and session["flag"] == "SF"
    assert session["flag_periods"][-1] == {"flag": "SF", "start_s": 3000.0, "end_s": None}
    assert session["weather"]["airTemp"] == 21.5
    car = view["cars"][0]
    assert car == {"number": "7", "class": "HYPERCAR", "position": 1, "class_position": 1,
                   "laps": 30, "driver": "Kamui KOBAYASHI", "team": "Toyota Gazoo Racing",
                   "last_lap_s": 209.0, "best_lap_s": 207.1, "pit_stops": 2,
                   "in_pit": False, "state": "Run"}
    json.dumps(view)  # JSON-ready


def test_weather_row_converted_with_race_time() -> None:
    row = weather_row(parse_wec(_bytes(payload())), received_s=0.0)
    assert row["elapsed_s"] == 3605.25
    assert row["time_utc"] == datetime.fromtimestamp(START / 1000 + 3605.25, UTC).replace(
        tzinfo=None)  # start + race time, not the poll's clock
    assert row["air_temp_f"] == pytest.approx(21.5 * 9 / 5 + 32)
    assert row["pressure_inhg"] == pytest.approx(1009.0 / 33.8638866667, abs=1e-4)
    assert row["wind_speed_mph"] == pytest.approx(12.0 / 1.609344, abs=1e-4)
    assert row["humidity_pct"] == 48.0 and row["wind_direction_deg"] == 225.0


def test_missing_fields_are_listed() -> None:
    data = payload()
    del data["params"]["elapsedTime"]
    for entry in data["entries"]:
        del entry["lastlapTime"], entry["lastlap"]
    del data["entries"][1]["pitstop"]
    snap = parse_wec(_bytes(data))
    assert snap.layout == "wec-2026"  # timestamp 0 with an epoch startTime
    assert "params.elapsedTime" in snap.missing
    assert "entries[].lastlapTime" in snap.missing
    assert "entries[].pitstop (1 of 2 entries)" in snap.missing
    without_lap = payload()
    del without_lap["entries"][0]["lap"]
    with pytest.raises(ParseError, match="no number or lap count") as info:
        parse_wec(_bytes(without_lap))
    assert info.value.field == "lap"


def test_older_layouts_are_still_told_apart() -> None:
    frames = official_frames(synthetic_lap_file())
    builder = FeedBuilder(frames["laps"], frames["flag_periods"], event="Layouts")
    for layout in ("wec-2017", "wec-current", "wec-2026"):
        assert parse_wec(builder.payloads(900.0, layout)["main"]).layout == layout


def test_builder_payload_round_trip() -> None:
    """The FeedBuilder's 2026 payload parses back to what the race shows at t."""
    frames = official_frames(synthetic_lap_file())
    builder = FeedBuilder(frames["laps"], frames["flag_periods"], event="Round trip")
    periods = frames["flag_periods"]
    t = float(periods["end_s"].iloc[0]) + 60.0  # after the first neutralisation
    snap = validate_snapshot(parse_wec(builder.wec_2026_payload(t)))
    raw = json.loads(builder.wec_2026_payload(t))
    assert raw["params"]["timestamp"] == 0 and raw["params"]["startTime"] > 1e12
    assert all(e["gap"] == "-" and e["lastPassingTime"] == 0 for e in raw["entries"])
    assert snap.clock_s == pytest.approx(t) and snap.missing == ()
    expected = {r["car"].number: r for r in builder.cars_at(t)}
    for car in snap.cars:
        r = expected[car.number]
        assert (car.laps, car.in_pit, car.pit_stops, car.position, car.class_position) == (
            r["laps"], r["in_pit"], r["stops"], r["position"], r["class_position"])
        assert car.driver == r["driver"]  # "First LAST" again, as in the lap file
        assert car.last_lap_ms == round(r["last_s"] * 1000)
    start, end = float(periods["start_s"].iloc[0]), float(periods["end_s"].iloc[0])
    flag = str(periods["flag"].iloc[0])
    assert any(f == flag and a == pytest.approx(start, abs=1e-3)
               and b == pytest.approx(end, abs=1e-3) for f, a, b in snap.flag_periods)
    assert snap.flag_periods[-1][2] is None


# -- the tracker: staleness from the content -----------------------------------------------
def test_stale_and_duplicate_from_content() -> None:
    tracker = LapTracker("wec")
    first = parse_wec(_bytes(payload(3600.0, laps=(29, 27))))
    assert tracker.process(first, received_s=100.0).status == "ok"
    later = parse_wec(_bytes(payload(3605.25)))
    result = tracker.process(later, received_s=110.0)
    assert result.status == "ok" and {r["number"] for r in result.rows} == {"7", "51"}
    assert result.rows[0]["top_speed_kph"] in (349.58, 281.1)
    # the same content again (other bytes: weather moved) is a duplicate
    again = payload(3605.25)
    again["params"]["airTemp"] = 22.0
    assert tracker.process(parse_wec(_bytes(again)), 120.0).status == "duplicate"
    # an older copy (a CDN's): smaller elapsedTime, fewer laps
    assert tracker.process(first, 130.0).status == "stale"
    # the same race time with content that moved on is never dropped
    moved = payload(3605.25)
    moved["entries"][0]["state"] = "In"
    assert tracker.process(parse_wec(_bytes(moved)), 140.0).status == "ok"
    # no race time at all: fewer laps for some car and more for none is stale
    old = payload(3605.25, laps=(29, 28))
    del old["params"]["elapsedTime"]
    assert tracker.process(parse_wec(_bytes(old)), 150.0).status == "stale"


def test_whole_crew_known_from_the_first_poll() -> None:
    tracker = LapTracker("wec")
    tracker.process(parse_wec(_bytes(payload(3600.0, laps=(29, 27)))), 0.0)
    assert tracker.cars["7"].drivers == ["Mike CONWAY", "Kamui KOBAYASHI", "Nyck DE VRIES"]
    result = tracker.process(parse_wec(_bytes(payload(3605.25))), 10.0)
    row = next(r for r in result.rows if r["number"] == "7")
    assert (row["driver_name"], row["driver_number"]) == ("Kamui KOBAYASHI", 2)


def test_every_poll_is_taken_when_the_content_moves(tmp_path) -> None:
    """The bug of issue #11: with timestamp 0 every poll after the first was a duplicate."""
    frames = official_frames(synthetic_lap_file())
    builder = FeedBuilder(frames["laps"], frames["flag_periods"], event="Content")
    store = RaceStore(tmp_path / "race.duckdb")
    session = LiveSession(store, LiveConfig("wec", "http://127.0.0.1/data.json",
                                            race_id="content"), recorder=False)
    t, statuses = 0.0, []
    while t < builder.end_s + 30:
        statuses.append(session.ingest({"main": builder.wec_2026_payload(t)}, t).status)
        t = builder.next_time(t, 10.0)
    assert set(statuses) == {"ok"}
    laps = store.table("laps", "content")
    assert len(laps) == len(frames["laps"]) and laps["lap_time_s"].notna().all()
    assert laps["top_speed_kph"].isna().all()  # the synthetic file has no TOP_SPEED
    weather = store.table("weather", "content")
    assert len(weather) >= 2 and weather["elapsed_s"].notna().all()
    assert store.live_state("content")["problem"] is None
    store.close()


# -- layout drift ----------------------------------------------------------------------------
def _session(tmp_path, name: str = "drift") -> tuple[RaceStore, LiveSession]:
    store = RaceStore(tmp_path / f"{name}.duckdb")
    return store, LiveSession(store, LiveConfig("wec", "http://127.0.0.1/data.json",
                                                race_id=name), recorder=False)


def test_a_missing_field_is_loud_at_once(tmp_path) -> None:
    store, session = _session(tmp_path)
    data = payload()
    del data["params"]["elapsedTime"]
    result = session.ingest({"main": _bytes(data)}, 0.0)
    assert result.status == "ok"
    assert result.problem == "layout not understood: missing params.elapsedTime"
    assert store.live_state("drift")["problem"] == result.problem
    # the layout understood again: the next poll that stores something clears it
    assert session.ingest({"main": _bytes(payload(3700.0, laps=(31, 28)))}, 10.0).laps == 1
    assert session.problem is None and store.live_state("drift")["problem"] is None
    renamed = payload(3800.0, laps=(32, 29))
    for entry in renamed["entries"]:
        entry["lapsCompleted"] = entry.pop("lap")
    result = session.ingest({"main": _bytes(renamed)}, 20.0)
    assert result.status == "bad-payload"
    assert result.problem.startswith("layout not understood: entry 1 has no number or lap")
    assert store.live_state("drift")["problem"] == result.problem
    store.close()


def test_changing_payloads_that_store_nothing_are_loud(tmp_path) -> None:
    """Payloads keep changing (here: only fields the parser ignores) while nothing new is
    stored: after DRIFT_POLLS polls the live state says so; a real change clears it."""
    store, session = _session(tmp_path)
    base = payload(3600.0, laps=(29, 27))
    assert session.ingest({"main": _bytes(base)}, 0.0).status == "ok"
    for i in range(DRIFT_POLLS):
        assert session.problem is None
        changed = copy.deepcopy(base)
        changed["params"]["airTemp"] = 22.0 + i  # bytes change, content does not
        changed["entries"][0]["currentSector1"] = f"3{i}.1"
        session.ingest({"main": _bytes(changed)}, 10.0 * (i + 1))
    assert session.problem is not None and session.problem.startswith(
        "layout not understood: 3 changed payloads in a row stored nothing new")
    assert store.live_state("drift")["problem"] == session.problem
    # identical bytes are not drift, and a poll with new laps clears the problem
    assert session.ingest({"main": _bytes(payload(3605.25))}, 60.0).laps == 2
    assert session.problem is None and store.live_state("drift")["problem"] is None
    store.close()


def test_frozen_laps_while_the_clock_runs_are_loud(tmp_path) -> None:
    """The race clock moves but no car completes a lap for more than three median best
    laps (a lap field that no longer means laps): drift."""
    store, session = _session(tmp_path)
    session.ingest({"main": _bytes(payload(3600.0, laps=(29, 27)))}, 0.0)
    elapsed = 3600.0
    for i in range(14):  # 980 s: the last 3 polls more than 3 × 230 s after the last lap
        elapsed += 70.0
        session.ingest({"main": _bytes(payload(elapsed, laps=(29, 27)))}, 10.0 * i)
    assert session.problem is not None and "stored nothing new" in session.problem
    store.close()


def test_no_drift_before_the_start_or_under_red(tmp_path) -> None:
    store, session = _session(tmp_path)
    grid = payload(0.0, laps=(0, 0), last_ms=(0, 0))
    for i in range(5):
        grid["params"]["airTemp"] = 20.0 + i
        session.ingest({"main": _bytes(grid)}, float(i))
    assert session.problem is None
    red = payload(3600.0)
    red["params"]["raceState"] = "Red"
    for i in range(5):
        red["params"]["airTemp"] = 20.0 + i
        session.ingest({"main": _bytes(red)}, 10.0 + i)
    assert session.problem is None
    store.close()


def test_crew_stored_from_the_first_poll(tmp_path) -> None:
    """Every crew member is in the drivers table from the first poll, with licence and
    country, numbered as the laps number them (drive time and the strategy's roster)."""
    store, session = _session(tmp_path, "crew")
    session.ingest({"main": _bytes(payload(3600.0, laps=(0, 0), last_ms=(0, 0)))}, 0.0)
    drivers = store.table("drivers", "crew").sort_values(["number", "driver_number"])
    assert list(zip(drivers["number"], drivers["driver_number"], drivers["driver_name"],
                    strict=True)) == [
        ("51", 1, "Alessandro PIER GUIDI"), ("51", 2, "James CALADO"),
        ("51", 3, "Antonio GIOVINAZZI"), ("7", 1, "Mike CONWAY"), ("7", 2, "Kamui KOBAYASHI"),
        ("7", 3, "Nyck DE VRIES")]
    assert set(drivers["licence"]) == {"Platinum"}
    session.ingest({"main": _bytes(payload(3605.25, laps=(1, 1)))}, 10.0)
    laps = store.table("laps", "crew").set_index("number")
    assert laps.loc["7", "driver_number"] == 2 and laps.loc["51", "driver_number"] == 1
    assert len(store.table("drivers", "crew")) == 6
    store.close()


def test_an_older_database_gets_the_new_columns(tmp_path) -> None:
    """A database made before ``weather.elapsed_s`` and ``live_state.problem`` existed is
    brought up to date on open (columns appended, NULL), and live polls write them."""
    import duckdb

    from race.schema import LIVE_STATE, WEATHER

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    for table, new in ((WEATHER, "elapsed_s"), (LIVE_STATE, "problem")):
        cols = ", ".join(f'"{c}" {t}' for c, t in table.columns if c != new)
        con.execute(f"CREATE TABLE {table.name} ({cols}, PRIMARY KEY "
                    f"({', '.join(table.key)}))")
    con.close()
    store = RaceStore(path)
    names = {r[0] for r in store.cursor().execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name IN ('weather', "
        "'live_state')").fetchall()}
    assert {"elapsed_s", "problem"} <= names
    session = LiveSession(store, LiveConfig("wec", "http://127.0.0.1/data.json",
                                            race_id="old"), recorder=False)
    data = payload()
    del data["progressFlagState"]
    session.ingest({"main": _bytes(data)}, 0.0)
    assert store.live_state("old")["problem"] == "layout not understood: missing " \
        "progressFlagState"
    assert store.table("weather", "old")["elapsed_s"].tolist() == [3605.25]
    store.close()
