"""Live feed parsers: our own payloads of both series (all layouts), error cases, and the
real recordings — 352 WEC polls (2019 layout) and one IMSA snapshot — without loss."""

from __future__ import annotations

import json
import sqlite3

import pytest

from race.errors import ParseError, ValidationError
from race.live.session import LiveConfig, LiveSession
from race.sources.feed import CarState, FeedSnapshot, times_ms, validate_snapshot
from race.sources.imsa_live import (
    in_pit,
    is_placeholder_row,
    parse_imsa,
    parse_race_data,
    parse_race_results,
    repair_mojibake,
    strip_jsonp,
    time_of_day_ms,
    time_to_go,
)
from race.sources.replay import FeedBuilder
from race.sources.wec_live import parse_wec, wec_flag
from race.store import RaceStore
from tests.conftest import REALDATA, requires_realdata
from tests.live_helpers import official_frames, synthetic_lap_file

WEC_POLLS = REALDATA / "wec/2019/silverstone-4h/live-polls.sqlite"
IMSA_SNAPSHOT = REALDATA / "imsa/2016/cota/live-raceresults.json"


@pytest.fixture(scope="module")
def builder() -> FeedBuilder:
    frames = official_frames(synthetic_lap_file())
    return FeedBuilder(frames["laps"], frames["flag_periods"], event="Parser Test")


# -- our payloads ----------------------------------------------------------------------------
def test_jsonp_and_plain_json() -> None:
    assert strip_jsonp('jsonpRaceResults({"B": []});') == {"B": []}
    assert strip_jsonp(b'\xef\xbb\xbf jsonpX( {"a": 1} ) ') == {"a": 1}
    assert strip_jsonp('{"a": [1, 2]}') == {"a": [1, 2]}
    with pytest.raises(ParseError, match="not valid JSON"):
        strip_jsonp('jsonpRaceResults({"B": [{"N": "7"')


def test_time_of_day_and_times() -> None:
    assert time_of_day_ms("14:29:51") == (14 * 3600 + 29 * 60 + 51) * 1000
    assert time_of_day_ms("1:28:43 PM") == (13 * 3600 + 28 * 60 + 43) * 1000
    assert time_of_day_ms("12:00:00 AM") == 0
    assert time_of_day_ms("soon") is None
    assert times_ms(["1:46.420", "--.---", "1 lap", "", None, 97289, "1:32:58.334"]) == [
        106420, None, None, None, None, 97289, 5578334]


def test_imsa_payload(builder: FeedBuilder) -> None:
    t = 1500.0
    payloads = builder.imsa_payloads(t)
    snap = parse_imsa(payloads["main"], payloads["flag"])
    expected = builder.cars_at(t)
    assert len(snap.cars) == len(expected)  # the placeholder row is dropped
    assert {c.number for c in snap.cars} == {r["car"].number for r in expected}
    by_number = {c.number: c for c in snap.cars}
    for r in expected:
        car = by_number[r["car"].number]
        assert car.laps == r["laps"] and car.in_pit == r["in_pit"]
        assert car.pit_stops == r["stops"] and car.position == r["position"]
        if r["laps"]:
            assert car.last_lap_ms == round(r["last_s"] * 1000)
    assert snap.flag == builder.flag(t) and snap.event == "Parser Test"
    assert snap.remaining_s == pytest.approx(builder.duration_s - t, abs=1)


def _mojibake(text: str) -> str:
    return text.encode("utf-8").decode("latin-1")


def _results(*rows: dict, **top: object) -> str:
    return "jsonpRaceResults(" + json.dumps({"S": "Race", "E": "Test", "T": "Track",
                                              "DT": "14:00:00", **top, "B": list(rows)}) + ");"


def _row(number: str = "7", **kw: object) -> dict:
    return {"A": 1, "N": number, "C": "GTP", "F": "Driver", "V": "Car", "L": 12,
            "LL": "1:10.000", "BL": "1:09.500", "P": 0, "PS": 1, "PIC": 1, **kw}


def test_imsa_2026_payload_as_the_cdn_serves_it(builder: FeedBuilder) -> None:
    """The 2026 layout of the same instant parses to the same cars as the older one: bool
    ``P``, the prefixed time to go, repaired names, transponder rows dropped."""
    t = 1500.0
    old = parse_imsa(*builder.payloads(t, "imsa").values())
    payloads = builder.payloads(t, "imsa-2026")
    raw = strip_jsonp(payloads["main"])
    assert any(isinstance(r.get("P"), bool) for r in raw["B"])
    assert sum(str(r["N"]).startswith("Tx") for r in raw["B"]) == 3
    assert b"Time to go: " in payloads["flag"]
    new = parse_imsa(payloads["main"], payloads["flag"])
    assert (new.layout, old.layout) == ("imsa-2026", "imsa")
    assert new.cars == old.cars
    assert (new.flag, new.remaining_s, new.event) == (old.flag, old.remaining_s, old.event)
    after = parse_imsa(*builder.payloads(builder.end_s + 5, "imsa-2026").values())
    assert after.remaining_s == 0 and after.flag == "FF"


def test_imsa_pit_flag_as_bool_int_or_text() -> None:
    for value, expected in ((True, True), (False, False), (1, True), (0, False),
                            ("1", True), ("0", False), (" 1 ", True), ("true", True),
                            ("False", False), (None, False), ("", False), (2, False)):
        assert in_pit(value) is expected, value
    rows = [_row(str(n), P=p, A=n) for n, p in enumerate((True, False, 1, 0, "1", "0"), 1)]
    snap = parse_race_results(_results(*rows))
    assert [c.in_pit for c in snap.cars] == [True, False, True, False, True, False]
    assert snap.layout == "imsa-2026"  # a JSON boolean P is the 2026 feed
    assert parse_race_results(_results(_row(P=1))).layout == "imsa"


def test_imsa_time_to_go_t_then_b_with_or_without_prefix() -> None:
    assert time_to_go("Time to go: 01:23:45") == (5025.0, False, True)
    assert time_to_go("time to go:0:05:00") == (300.0, False, True)
    assert time_to_go("00:10:00") == (600.0, False, False)
    assert time_to_go("Session Complete") == (0.0, True, True)
    assert time_to_go("0:00:00") == (0.0, False, False)  # time up: the race still runs
    assert time_to_go("--:--:--") == (None, False, False) and time_to_go(None)[0] is None
    both = parse_race_data('jsonpRaceData({"C": 1, "T": "Time to go: 0:20:00", '
                           '"B": "0:30:00"});')
    assert both.time_to_go_s == 1200 and both.flag == "GF" and both.layout == "imsa-2026"
    assert parse_race_data('{"C": 1, "T": "", "B": "0:30:00"}').time_to_go_s == 1800
    assert parse_race_data('{"C": 1, "B": "Time to go: 0:30:00"}').time_to_go_s == 1800
    assert parse_race_data('{"C": 2, "T": "nonsense"}').time_to_go_s is None


def test_imsa_session_complete_is_finished() -> None:
    done = parse_race_data('jsonpRaceData({"T": "Session Complete"});')
    assert done.finished and done.time_to_go_s == 0 and done.flag == "FF"
    # a flag code says what it says (a race ending under red stays red)
    assert parse_race_data('{"C": 3, "T": "Session Complete"}').flag == "RF"
    assert parse_race_data('{"C": 4, "B": "Session Complete"}').flag == "FF"
    snap = parse_imsa(_results(_row()), '{"T": "Session Complete"}')
    assert snap.remaining_s == 0 and snap.flag == "FF" and snap.layout == "imsa-2026"


def test_mojibake_repaired_only_when_it_round_trips() -> None:
    assert repair_mojibake("AndrÃ© NEGRÃƒO") == "André NEGRÃO"  # read as Windows-1252
    for name in ("André Négrão", "Jörg Müller", "Álvaro Parente", "Renée Ørsted",
                 "Łukasz Wiśniewski", "Nicolás Varrone", "Pietro Fittipaldi"):
        assert repair_mojibake(_mojibake(name)) == name  # read as Latin-1
        assert repair_mojibake(name) == name  # real non-ASCII text is never changed
    assert repair_mojibake(_mojibake(_mojibake("Sébastien"))) == "Sébastien"
    for text in ("Müller", "São Paulo", "Łukasz", "Ægir Þórsson", "Team © 2026", "", None,
                 "plain ASCII", "Ã alone", "price 5 €"):
        assert repair_mojibake(text) == text


def test_imsa_mojibake_repaired_in_every_text_field() -> None:
    row = _row(F=_mojibake("André Négrão"), V=_mojibake("Škoda Façade"), C=_mojibake("GTÉ"),
               T=_mojibake("Équipe Müller"), S=_mojibake("Arrêt"), D="--.---")
    snap = parse_race_results(_results(row, E=_mojibake("Gran Premio de México"),
                                       S=_mojibake("Carrera – Race"),
                                       T=_mojibake("Autódromo Hermanos Rodríguez")))
    car = snap.cars[0]
    assert (car.driver, car.vehicle, car.car_class, car.team, car.state) == (
        "André Négrão", "Škoda Façade", "GTÉ", "Équipe Müller", "Arrêt")
    assert snap.event == "Gran Premio de México" and snap.session == "Carrera – Race"
    assert snap.track == "Autódromo Hermanos Rodríguez"
    real = parse_race_results(_results(_row(F="Jörg Müller", V="Citroën")))
    assert (real.cars[0].driver, real.cars[0].vehicle) == ("Jörg Müller", "Citroën")


def test_imsa_transponder_placeholder_rows_are_skipped() -> None:
    tx = {"A": 0, "N": "Tx4417", "C": "", "F": "", "V": "", "L": 0, "P": False}
    assert is_placeholder_row(tx)
    assert is_placeholder_row({**tx, "C": "GTD"})  # a class but no driver nor vehicle
    assert is_placeholder_row({**tx, "N": "E1", "F": " "})  # the older empty-class rows
    assert not is_placeholder_row(_row("Tx9", F="Real Driver"))  # someone is in it
    snap = parse_race_results(_results(_row("7"), tx, {**tx, "N": "Tx12", "L": None},
                                       _row("31", A=2)))
    assert [c.number for c in snap.cars] == ["7", "31"] and snap.layout == "imsa-2026"


@pytest.mark.parametrize("layout", ["wec-2017", "wec-current"])
def test_wec_payload(builder: FeedBuilder, layout: str) -> None:
    t = 1200.0
    snap = parse_wec(builder.wec_payload(t, layout))
    assert snap.layout == layout
    expected = {r["car"].number: r for r in builder.cars_at(t)}
    assert {c.number for c in snap.cars} == set(expected)
    for car in snap.cars:
        r = expected[car.number]
        assert (car.laps, car.in_pit, car.pit_stops) == (r["laps"], r["in_pit"], r["stops"])
        if r["laps"]:
            assert car.last_lap_ms == round(r["last_s"] * 1000)
        if layout == "wec-current":  # the entry's drivers[] list gives the driver number
            assert car.driver_index == r["car"].drivers.index(car.driver) + 1
    assert snap.clock_s == int(t) and snap.flag == builder.flag(t)


def test_flags() -> None:
    assert wec_flag("green") == "GF" and wec_flag("Grn") == "GF"
    assert wec_flag("yellow") == "GF"  # a local yellow does not neutralise the race
    assert wec_flag("full_yellow") == "FCY" and wec_flag("safety_car") == "SF"
    assert wec_flag("green", "true") == "SF" and wec_flag("Chk") == "FF"
    assert wec_flag("red") == "RF" and wec_flag("") is None
    assert parse_race_data('jsonpRaceData({"C": 2, "B": "1:02:03"});').flag == "FCY"
    assert parse_race_data('jsonpRaceData({"C": 4});').flag == "FF"
    assert parse_race_data('{"C": 1, "T": "0:10:00"}').time_to_go_s == 600
    with pytest.raises(ParseError, match="flag code"):
        parse_race_data('{"C": 9}')


def test_bad_payloads_are_refused() -> None:
    with pytest.raises(ParseError, match="no car list"):
        parse_race_results('jsonpRaceResults({"S": "Race"});')
    with pytest.raises(ParseError, match="no number or lap"):
        parse_race_results('{"B": [{"C": "GTD", "N": "7"}]}')
    with pytest.raises(ParseError, match="entries"):
        parse_wec('{"params": {}}')
    with pytest.raises(ParseError, match="not valid JSON"):
        parse_wec('{"params": {"timestamp": 1}, "entries": [')
    with pytest.raises(ValidationError, match="appears twice"):
        validate_snapshot(FeedSnapshot("wec", (CarState("7", 1), CarState("7", 2))))
    with pytest.raises(ValidationError, match="no cars"):
        validate_snapshot(FeedSnapshot("wec", ()))
    with pytest.raises(ValidationError, match="last lap"):
        validate_snapshot(FeedSnapshot("wec", (CarState("7", 3, last_lap_ms=-5),)))


# -- real recordings -------------------------------------------------------------------------
def _nest(row: sqlite3.Row, skip: tuple[str, ...] = ()) -> dict:
    """The flattened ``a.b`` columns back into the nested JSON the feed served."""
    out: dict = {}
    for key in row.keys():  # noqa: SIM118 (iterating a sqlite3.Row yields values)
        if key in skip:
            continue
        target = out
        *parents, leaf = key.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = row[key]
    return out


@pytest.fixture(scope="module")
def wec_polls() -> list[tuple[dict, list[dict]]]:
    """The 352 real WEC polls rebuilt as JSON payloads (read with the stdlib sqlite3)."""
    if not WEC_POLLS.exists():
        pytest.skip(f"{WEC_POLLS} is absent")
    con = sqlite3.connect(f"file:{WEC_POLLS}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    polls = []
    metas = con.execute('SELECT * FROM race_meta ORDER BY "params.timestamp"').fetchall()
    entries: dict[int, list[dict]] = {}
    for row in con.execute("SELECT * FROM car_entries ORDER BY timestamp, ranking"):
        entries.setdefault(row["timestamp"], []).append(_nest(row, skip=("timestamp",)))
    for meta in metas:
        polls.append((_nest(meta), entries.get(meta["params.timestamp"], [])))
    laps = [dict(r) for r in con.execute("SELECT number, lap, lastlap FROM entries_laps")]
    con.close()
    return polls, laps


@pytest.mark.realdata
@requires_realdata
def test_real_wec_polls_parse_without_loss(wec_polls) -> None:
    polls, _ = wec_polls
    assert len(polls) == 352
    for meta, entries in polls:
        snap = validate_snapshot(parse_wec(json.dumps({**meta, "entries": entries})))
        params = meta["params"]
        assert snap.layout == "wec-2017"
        assert snap.feed_time_ms == params["timestamp"]
        assert snap.clock_s == params["elapsed"] and snap.remaining_s == params["remaining"]
        assert snap.event == params["eventName"]
        assert snap.flag == wec_flag(params["racestate"], params["safetycar"])
        assert snap.flag is not None
        assert len(snap.cars) == len(entries) == 31
        for car, e in zip(snap.cars, entries, strict=True):
            assert car.number == str(e["number"])
            assert car.laps == e["lap"]
            assert car.last_lap_ms == (times_ms([e["lastlap"]])[0] if e["lastlap"] else None)
            assert car.best_lap_ms == (times_ms([e["bestlap"]])[0] if e["bestlap"] else None)
            assert car.in_pit == (e["state"] == "In") and car.state == e["state"]
            assert car.pit_stops == e["pitstop"]
            assert car.position == e["ranking"]
            assert car.class_position == e["categoryPosition"]
            assert car.car_class == e["category"] and car.team == e["team"]
            assert car.vehicle == e["car"] and car.driver == e["driver"]
            assert car.speed_kph == e["speed"]
            assert car.last_passing_ms == e["lastPassingTime"]


@pytest.mark.realdata
@requires_realdata
def test_real_wec_polls_give_every_lap_once(wec_polls, tmp_path) -> None:
    """The tracker on the real polls: each lap the feed showed is stored once with the time
    the feed showed; laps before the first poll (joined mid-race) have no invented time."""
    polls, seen_laps = wec_polls
    with RaceStore(tmp_path / "wec.duckdb") as store:
        session = LiveSession(store, LiveConfig(source="wec", url="sqlite:live-polls",
                                                race_id="silverstone-2019"), recorder=False)
        statuses = [session.ingest({"main": json.dumps({**m, "entries": e}).encode()}).status
                    for m, e in polls]
        assert statuses.count("ok") == 352
        laps = store.table("laps", "silverstone-2019")
        markers = store.backfill_markers("silverstone-2019")
    assert not laps.duplicated(["number", "lap_number"]).any()
    first = {str(e["number"]): e["lap"] for e in polls[0][1]}
    last = {str(e["number"]): e["lap"] for e in polls[-1][1]}
    assert laps.groupby("number")["lap_number"].max().to_dict() == last
    assert laps.groupby("number").size().to_dict() == last  # laps 1..N, each once
    timed = laps.set_index(["number", "lap_number"])["lap_time_s"]
    checked = 0
    for row in seen_laps:
        key = (str(row["number"]), row["lap"])
        if row["lap"] > first[key[0]] and row["lastlap"]:
            assert round(timed[key] * 1000) == times_ms([row["lastlap"]])[0], key
            checked += 1
    assert checked > 1600
    # before the first poll: no time at all (marked), never a guess
    early = laps[laps["lap_number"] < laps["number"].map(first)]
    assert early["lap_time_s"].isna().all() and early["elapsed_s"].isna().all()
    unknown = markers[markers["reason"] == "lap_time_unknown"]
    assert len(unknown) == len(early)


@pytest.mark.realdata
@requires_realdata
def test_real_imsa_snapshot_parses_without_loss() -> None:
    if not IMSA_SNAPSHOT.exists():
        pytest.skip(f"{IMSA_SNAPSHOT} is absent")
    text = IMSA_SNAPSHOT.read_text(encoding="utf-8")
    raw = json.loads(text)
    for payload in (text, f"jsonpRaceResults({text});"):  # as served: JSONP
        snap = validate_snapshot(parse_race_results(payload))
        assert snap.layout == "imsa"  # the 2016 layout: 0/1 P, no transponder rows
        cars = [r for r in raw["B"] if r["C"]]
        assert len(raw["B"]) - len(cars) == 2  # placeholder rows dropped
        assert len(snap.cars) == len(cars) == 39
        assert snap.event == raw["E"] and snap.track == raw["T"]
        assert snap.feed_time_ms == time_of_day_ms(raw["DT"])
        for car, r in zip(snap.cars, cars, strict=True):
            assert car.number == r["N"] and car.laps == r["L"]
            assert car.last_lap_ms == times_ms([r["LL"]])[0]
            assert car.best_lap_ms == times_ms([r["BL"]])[0]
            assert car.in_pit == (r["P"] == 1) and car.pit_stops == r["PS"]
            assert car.position == r["A"] and car.class_position == r["PIC"]
            assert car.car_class == r["C"] and car.vehicle == r["V"]
            assert car.driver == r["F"]
            if r["SP"] != "--.---":
                assert car.speed_kph == pytest.approx(float(r["SP"]) * 1.609344, abs=1e-3)
