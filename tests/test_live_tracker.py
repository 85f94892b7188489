"""The lap tracker on hand-made snapshots: exact laps from one-lap steps, unknown (never
invented) times after a gap, stale and duplicate payloads, pit stops, flags, state."""

from __future__ import annotations

import json

from race.live.tracker import (
    ELAPSED_ESTIMATED,
    LAP_TIME_UNKNOWN,
    PIT_TIME_ESTIMATED,
    LapTracker,
)
from race.sources.feed import CarState, FeedSnapshot


def snap(t: float, cars: list[CarState], flag: str = "GF", **kw: object) -> FeedSnapshot:
    return FeedSnapshot("wec", tuple(cars), feed_time_ms=int(1e12 + t * 1000), clock_s=t,
                        flag=flag, event="Test", session="Race", **kw)


def car(laps: int, last_ms: int | None = None, **kw: object) -> CarState:
    return CarState("7", laps, last_lap_ms=last_ms, car_class="GTP", driver="A DRIVER", **kw)


def test_one_lap_steps_are_exact() -> None:
    tracker = LapTracker("wec")
    assert tracker.process(snap(0, [car(0)]), 0).rows == []
    r1 = tracker.process(snap(95, [car(1, 90_123)]), 0)
    r2 = tracker.process(snap(190, [car(2, 88_456)]), 0)
    assert [(r["lap_number"], r["lap_time_s"], r["elapsed_s"]) for r in r1.rows + r2.rows] == [
        (1, 90.123, 90.123), (2, 88.456, 178.579)]
    assert not r1.markers and not r2.markers
    assert r2.rows[0]["flag"] == "GF" and r2.rows[0]["driver_number"] == 1


def test_a_gap_stores_unknown_laps_never_invented_times() -> None:
    tracker = LapTracker("wec")
    tracker.process(snap(0, [car(0)]), 0)
    tracker.process(snap(95, [car(1, 90_000)]), 0)
    gap = tracker.process(snap(400, [car(4, 89_000)]), 0)  # laps 2 and 3 never shown
    rows = {r["lap_number"]: r for r in gap.rows}
    assert sorted(rows) == [2, 3, 4]
    for lap in (2, 3):
        assert rows[lap]["lap_time_s"] is None and rows[lap]["elapsed_s"] is None
        assert rows[lap]["flag"] is None
    assert rows[4]["lap_time_s"] == 89.0  # the feed shows lap 4's own time
    assert rows[4]["elapsed_s"] == 400.0  # the crossing is known only up to the poll
    assert set(gap.markers) == {("7", 2, LAP_TIME_UNKNOWN), ("7", 3, LAP_TIME_UNKNOWN),
                                ("7", 4, ELAPSED_ESTIMATED)}
    after = tracker.process(snap(495, [car(5, 91_000)]), 0)
    # chained from an estimate: still an estimate, and marked as one
    assert after.rows[0]["elapsed_s"] == 491.0
    assert after.markers == [("7", 5, ELAPSED_ESTIMATED)]


def test_stale_duplicate_and_backwards_payloads_change_nothing() -> None:
    tracker = LapTracker("wec")
    tracker.process(snap(0, [car(0)]), 0)
    tracker.process(snap(95, [car(1, 90_000)]), 0)
    assert tracker.process(snap(50, [car(0)]), 0).status == "stale"
    assert tracker.process(snap(95, [car(1, 90_000)]), 0).status == "duplicate"
    regressed = tracker.process(snap(100, [car(0)]), 0)
    assert regressed.status == "ok" and not regressed.rows
    assert tracker.cars["7"].laps == 1
    other = FeedSnapshot("wec", (car(0),), feed_time_ms=int(2e12), clock_s=1, event="Next",
                         session="Qualifying")
    assert tracker.process(other, 0).status == "other-session"


def test_imsa_time_of_day_wraps_at_midnight() -> None:
    tracker = LapTracker("imsa")
    day = 86_400_000

    def imsa(tod_ms: int, laps: int, last: int | None) -> FeedSnapshot:
        return FeedSnapshot("imsa", (CarState("7", laps, last_lap_ms=last),),
                            feed_time_ms=tod_ms % day, event="E", session="S")
    tracker.process(imsa(day - 60_000, 0, None), 0)
    assert tracker.process(imsa(day + 40_000, 1, 95_000), 0).status == "ok"
    assert tracker.process(imsa(day - 30_000, 1, 95_000), 0).status == "stale"


def test_pit_stop_in_lap_then_measured_pit_time_on_the_out_lap() -> None:
    tracker = LapTracker("wec")
    tracker.process(snap(0, [car(0)]), 0)
    tracker.process(snap(90, [car(1, 88_000)]), 0)
    tracker.process(snap(170, [car(1, 88_000, in_pit=True, pit_stops=1)]), 0)  # pit entry
    in_lap = tracker.process(snap(180, [car(2, 95_000, in_pit=True, pit_stops=1)]), 0)
    assert in_lap.rows[0]["crossing_in_pit"] is True
    assert tracker.process(snap(240, [car(2, 95_000, pit_stops=1)]), 0).rows == []  # exit
    out_lap = tracker.process(snap(330, [car(3, 140_000, pit_stops=1)]), 0)
    row = out_lap.rows[0]
    assert row["crossing_in_pit"] is False
    # entry between 90 and 170 (165 … 170 … midpoint 130), exit between 180 and 240 (210)
    assert row["pit_time_s"] == 80.0
    assert out_lap.markers == [("7", 3, PIT_TIME_ESTIMATED)]


def test_in_lap_driver_is_the_one_who_drove_it() -> None:
    tracker = LapTracker("wec")
    tracker.process(snap(0, [car(0)]), 0)
    tracker.process(snap(90, [car(1, 88_000)]), 0)
    changed = CarState("7", 2, last_lap_ms=95_000, in_pit=True, driver="B DRIVER")
    row = tracker.process(snap(185, [changed]), 0).rows[0]
    assert row["driver_name"] == "A DRIVER" and row["driver_number"] == 1
    out = tracker.process(snap(330, [CarState("7", 3, last_lap_ms=140_000,
                                              driver="B DRIVER")]), 0).rows[0]
    assert out["driver_name"] == "B DRIVER" and out["driver_number"] == 2


def test_flag_changes_between_polls_and_the_chequered_flag() -> None:
    tracker = LapTracker("wec")
    fast = CarState("1", 0, car_class="GTP")
    slow = CarState("2", 0, car_class="GTD")
    tracker.process(snap(0, [fast, slow]), 0)
    r = tracker.process(snap(100, [CarState("1", 1, last_lap_ms=40_000),
                                   CarState("2", 1, last_lap_ms=95_000)], flag="FCY"), 0)
    flags = {x["number"]: x["flag"] for x in r.rows}
    assert flags == {"1": "GF", "2": "FCY"}  # change placed midway between the polls (50 s)
    r = tracker.process(snap(150, [CarState("1", 2, last_lap_ms=70_000),
                                   CarState("2", 1, last_lap_ms=95_000)], flag="FCY"), 0)
    # the leader (car 1, most laps) finishes at 190 s; car 2, a lap down, crossed at 185 s
    r = tracker.process(snap(200, [CarState("1", 3, last_lap_ms=80_000),
                                   CarState("2", 2, last_lap_ms=90_000)], flag="FF"), 0)
    flags = {x["number"]: x["flag"] for x in r.rows}
    assert flags == {"1": "FF", "2": "FCY"}


def test_state_round_trips_through_json() -> None:
    tracker = LapTracker("imsa", duration_s=3600)
    tracker.process(snap(0, [car(0)]), 0)
    tracker.process(snap(90, [car(1, 88_000, in_pit=True, pit_stops=1)]), 0)
    again = LapTracker.from_state(json.loads(json.dumps(tracker.to_state())))
    assert again.to_state() == tracker.to_state()
    a = tracker.process(snap(200, [car(2, 100_000)]), 0)
    b = again.process(snap(200, [car(2, 100_000)]), 0)
    assert a.rows == b.rows and a.markers == b.markers
