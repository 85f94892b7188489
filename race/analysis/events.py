"""The race feed: one readable line per thing that happened, derived from the stored laps
(their in/out-lap, stint and driver columns), flag periods and alerts.

Kinds and their rules (issue #14):

- ``pit_in``: the car's in-lap crossing (B). A red-flag row carrying B and PIT_TIME is its
  own in-lap: the event is at the lap's start, as the pit stop's ``pit_in_elapsed_s``. A stop
  whose previous lap has no B gets its event at the out-lap's start (the previous crossing),
  lap = the lap before the out-lap. So every stored pit stop has one ``pit_in`` event at
  (number, ``pit_in_elapsed_s``); a B lap followed by no stop (retired in the pits, the end)
  has one too. Text: lap and stint length.
- ``pit_out``: the out-lap crossing (the row carrying PIT_TIME; a pit-lane start is not a
  stop), with PIT_TIME and the driver change if any.
- ``driver_change``: a lap whose driver number differs from the car's previous lap (both
  known), at that lap's crossing.
- ``class_lead``: evaluated at every crossing of a class, in time order: the leader is the
  car with most laps, then the earliest crossing of its last lap, i.e. the first car to
  complete the class's highest lap so far. An event when the leader changes (the class's
  first crossing included).
- ``class_fastest_lap``: a lap time strictly below every lap time of its class crossed
  strictly earlier in the race (the class's first timed lap included).
- ``flag``: one start and one end event per stored flag period.
- ``retired``: a car whose last crossing is followed by more than 3 × its median lap without
  a crossing while the race runs on (a later crossing of any car). At race time last
  crossing + 3 × median: when it becomes known. A car that crosses again loses it.
- ``alert``: each stored incident or slow-stop alert (``alerts``), with its reason; read
  with the stored events (``alert_events``), not stored twice.

Each event has ``t_s`` (race time, s), ``kind``, ``number``, ``class``, ``lap`` and ``text``.
Ties in time are ordered by ``KINDS``, then car number and lap (``sort_events``).

The import derives them all at once (``race_events``); the live path continues the same
functions batch by batch (``lap_events`` on new rows, ``class_events`` from the class's
state, ``flag_events`` when the periods change, ``retired_events``), so both give the same
rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from race.timefmt import format_duration, format_lap_time

EVENT_COLUMNS = ["t_s", "kind", "number", "class", "lap", "text"]
KINDS = ("flag", "pit_in", "pit_out", "driver_change", "class_lead", "class_fastest_lap",
         "retired", "alert")
STORED_KINDS = KINDS[:-1]  # alerts are read from the alerts table
CLASS_KINDS = ("class_lead", "class_fastest_lap")
KIND_RANK = {k: i for i, k in enumerate(KINDS)}
RETIRED_MEDIAN_LAPS = 3.0
FLAG_NAMES = {"FCY": "Full-course yellow", "SF": "Safety car", "RF": "Red flag",
              "SC": "Safety car", "VSC": "Virtual safety car"}
# The lap columns the events read (all in race.live.race.KEEP).
LAP_COLUMNS = ("number", "lap_number", "class", "elapsed_s", "start_s", "lap_time_s",
               "in_lap", "pit_time_s", "pit_lane_start", "driver_number", "driver_name",
               "lap_in_stint")
PREV_COLUMNS = ("in_lap", "driver_number", "driver_name", "lap_in_stint")


@dataclass
class ClassState:
    """Where a class's crossings stand after the last one processed (time order)."""

    last_elapsed_s: float = -np.inf
    max_lap: int = 0
    leader: str | None = None
    best_lap_s: float = np.inf


def _floats(values: object) -> np.ndarray:
    if isinstance(values, pd.Series):
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    arr = np.asarray(values)
    if arr.dtype == object:
        return pd.to_numeric(pd.Series(arr, dtype=object), errors="coerce").to_numpy(
            dtype=float, na_value=np.nan)
    return arr.astype(float)


def _bools(values: object) -> np.ndarray:
    if isinstance(values, pd.Series):
        return values.fillna(False).to_numpy(dtype=bool)
    arr = np.asarray(values)
    if arr.dtype == object:
        return np.array([bool(v) if v is not None and v == v else False for v in arr],
                        dtype=bool)
    return arr.astype(bool)


def _objects(values: object) -> np.ndarray:
    if isinstance(values, pd.Series):
        return values.astype(object).where(values.notna(), None).to_numpy(dtype=object)
    return np.asarray(values, dtype=object)


def _events(t_s: np.ndarray, kind: str, number: np.ndarray, cls: np.ndarray,
            lap: np.ndarray | None, text: list[str]) -> dict[str, np.ndarray]:
    n = len(t_s)
    laps = (np.full(n, None, dtype=object) if lap is None
            else np.array([int(v) for v in lap], dtype=object))
    return {"t_s": np.asarray(t_s, dtype=float), "kind": np.full(n, kind, dtype=object),
            "number": np.asarray(number, dtype=object), "class": np.asarray(cls, dtype=object),
            "lap": laps, "text": np.array(text, dtype=object)}


def empty_events() -> dict[str, np.ndarray]:
    return _events(np.zeros(0), "flag", np.zeros(0, dtype=object),
                   np.zeros(0, dtype=object), None, [])


def concat_events(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Event column arrays of several parts, one after the other."""
    parts = [p for p in parts if len(p["t_s"])]
    if not parts:
        return empty_events()
    if len(parts) == 1:
        return parts[0]
    return {c: np.concatenate([p[c] for p in parts]) for c in EVENT_COLUMNS}


def _driver(name: object, index: float) -> str:
    if isinstance(name, str) and name.strip():
        return name.strip()
    return f"driver {int(index)}" if index == index else "?"


# -- per lap: pit in, pit out, driver change ---------------------------------------------------
def lap_events(laps: Mapping[str, object], prev: Mapping[str, object],
               has_prev: np.ndarray) -> dict[str, np.ndarray]:
    """``pit_in``, ``pit_out`` and ``driver_change`` events of some laps.

    Args:
        laps: lap rows (``LAP_COLUMNS``; derived laps).
        prev: each row's previous lap of the same car (``PREV_COLUMNS``), aligned with
            ``laps``; any values where ``has_prev`` is False.
        has_prev: whether the row has a previous lap.
    """
    has_prev = np.asarray(has_prev, dtype=bool)
    number = _objects(laps["number"])
    if not len(number):
        return empty_events()
    cls = _objects(laps["class"])
    lap = np.asarray(laps["lap_number"], dtype=np.int64)
    elapsed, start = _floats(laps["elapsed_s"]), _floats(laps["start_s"])
    pit = _floats(laps["pit_time_s"])
    in_lap, lane = _bools(laps["in_lap"]), _bools(laps["pit_lane_start"])
    stint_laps = _floats(laps["lap_in_stint"])
    prev_in = _bools(prev["in_lap"]) & has_prev
    prev_stint_laps = _floats(prev["lap_in_stint"])
    driver, prev_driver = _floats(laps["driver_number"]), _floats(prev["driver_number"])
    name, prev_name = _objects(laps["driver_name"]), _objects(prev["driver_name"])
    stop = ~np.isnan(pit) & ~lane & has_prev
    # B on a row that is itself the stop (IMSA red flag): in at the lap's start
    own = stop & in_lap & ~prev_in
    no_b = stop & ~prev_in & ~in_lap  # a stop whose in-lap has no B
    parts = []
    rows = np.flatnonzero(in_lap | no_b)
    if len(rows):
        early = own[rows] | no_b[rows]
        t = np.where(early, start[rows], elapsed[rows])
        in_lap_number = np.where(no_b[rows], lap[rows] - 1, lap[rows])
        length = np.where(early, prev_stint_laps[rows], stint_laps[rows])
        text = [f"#{n} pits at the end of lap {k}"
                + (f" after a stint of {int(s)} lap{'s' if s != 1 else ''}" if s == s else "")
                for n, k, s in zip(number[rows], in_lap_number, length, strict=True)]
        parts.append(_events(t, "pit_in", number[rows], cls[rows], in_lap_number, text))
    changed = (has_prev & ~np.isnan(driver) & ~np.isnan(prev_driver)
               & (driver != prev_driver))
    rows = np.flatnonzero(stop)
    if len(rows):
        text = []
        for r in rows:
            line = f"#{number[r]} leaves the pits on lap {lap[r]}, pit time " \
                   f"{format_lap_time(pit[r])}"
            if changed[r]:
                line += (f", driver change {_driver(prev_name[r], prev_driver[r])} → "
                         f"{_driver(name[r], driver[r])}")
            text.append(line)
        parts.append(_events(elapsed[rows], "pit_out", number[rows], cls[rows], lap[rows],
                             text))
    rows = np.flatnonzero(changed)
    if len(rows):
        text = [f"#{number[r]} driver change: {_driver(prev_name[r], prev_driver[r])} → "
                f"{_driver(name[r], driver[r])} (lap {lap[r]})" for r in rows]
        parts.append(_events(elapsed[rows], "driver_change", number[rows], cls[rows],
                             lap[rows], text))
    return concat_events(parts)


# -- per class: leader and fastest lap ----------------------------------------------------------
def class_order(number: np.ndarray, lap: np.ndarray, elapsed: np.ndarray) -> np.ndarray:
    """Crossings in time order; ties by car number (text) then lap."""
    if len(number) < 256:  # a poll's few: a Python sort is cheaper (and orders the same)
        return np.array(sorted(range(len(number)), key=lambda i: (
            elapsed[i], number[i], lap[i])), dtype=np.int64)
    codes = pd.factorize(pd.Series(number, dtype=object), sort=True)[0]
    return np.lexsort((lap, codes, elapsed))


def class_events(laps: Mapping[str, object], states: dict[str, ClassState],
                 classes: set[str] | None = None) -> dict[str, np.ndarray]:
    """``class_lead`` and ``class_fastest_lap`` events of some crossings, continuing each
    class from ``states`` (updated in place; a class without one starts afresh).

    The crossings of a class must all be later than its state's last crossing (the live path
    recomputes a class from all its laps otherwise). Rows without a class or a crossing time
    make no event.

    Args:
        laps: lap rows (``number, lap_number, class, elapsed_s, lap_time_s, driver_name``).
        states: class → state after its earlier crossings.
        classes: only these classes (default: all in ``laps``).
    """
    number = _objects(laps["number"])
    if not len(number):
        return empty_events()
    cls = _objects(laps["class"])
    lap = np.asarray(laps["lap_number"], dtype=np.int64)
    elapsed, lap_time = _floats(laps["elapsed_s"]), _floats(laps["lap_time_s"])
    driver = _objects(laps["driver_name"])
    ok = np.isfinite(elapsed) & pd.notna(cls)
    names = sorted({c for c in cls[ok]} if classes is None else classes)
    parts = []
    for name in names:
        idx = np.flatnonzero(ok & (cls == name))
        if not len(idx):
            continue
        s = idx[class_order(number[idx], lap[idx], elapsed[idx])]
        state = states.setdefault(name, ClassState())
        # leader: the first car to complete the class's highest lap so far
        laps_s = lap[s]
        running = np.maximum.accumulate(laps_s)
        before = np.maximum(np.r_[state.max_lap, running[:-1]], state.max_lap)
        lead_rows = s[laps_s > before]
        leaders = number[lead_rows]
        previous = np.empty(len(leaders), dtype=object)
        if len(leaders):
            previous[0] = state.leader
            previous[1:] = leaders[:-1]
        new = np.array([a != b for a, b in zip(leaders, previous, strict=True)], dtype=bool)
        rows = lead_rows[new]
        if len(rows):
            text = [f"#{n} leads {name} on lap {k}" + (f", ahead of #{p}" if p else "")
                    for n, k, p in zip(number[rows], lap[rows], previous[new], strict=True)]
            parts.append(_events(elapsed[rows], "class_lead", number[rows], cls[rows],
                                 lap[rows], text))
        # fastest lap: below every lap time crossed strictly earlier
        times = lap_time[s]
        timed = np.isfinite(times)
        best = np.minimum.accumulate(np.where(timed, times, np.inf))
        at = elapsed[s]
        first_same = np.searchsorted(at, at, side="left")
        earlier = np.where(first_same > 0, best[np.maximum(first_same - 1, 0)], np.inf)
        fast = timed & (times < np.minimum(earlier, state.best_lap_s))
        rows = s[fast]
        if len(rows):
            text = [f"#{number[r]} fastest {name} lap so far: {format_lap_time(lap_time[r])}"
                    f" (lap {lap[r]}" + (f", {driver[r]})" if isinstance(driver[r], str)
                                         and driver[r] else ")") for r in rows]
            parts.append(_events(elapsed[rows], "class_fastest_lap", number[rows],
                                 cls[rows], lap[rows], text))
        state.last_elapsed_s = float(at[-1])
        state.max_lap = int(max(state.max_lap, running[-1]))
        state.leader = leaders[-1] if len(leaders) else state.leader
        state.best_lap_s = float(min(state.best_lap_s, best[-1]))
    return concat_events(parts)


# -- flags and retirements --------------------------------------------------------------------
def flag_events(periods: pd.DataFrame) -> dict[str, np.ndarray]:
    """A start and an end event per flag period (``flag_periods`` rows)."""
    if periods is None or not len(periods):
        return empty_events()
    flag = periods["flag"].to_numpy(dtype=object)
    start = periods["start_s"].to_numpy(dtype=float)
    end = periods["end_s"].to_numpy(dtype=float)
    inferred = (periods["inferred"].fillna(False).to_numpy(dtype=bool)
                if "inferred" in periods else np.zeros(len(flag), dtype=bool))
    labels = [FLAG_NAMES.get(str(f), str(f)) + (" (inferred from lap times)" if i else "")
              for f, i in zip(flag, inferred, strict=True)]
    n = len(flag)
    t = np.empty(2 * n)
    t[0::2], t[1::2] = start, end
    text = []
    for label, a, b in zip(labels, start, end, strict=True):
        text.append(f"{label} from {format_duration(a)}")
        text.append(f"Green again at {format_duration(b)} after {format_duration(b - a)} of "
                    f"{label[0].lower() + label[1:]}")
    none = np.full(2 * n, None, dtype=object)
    return _events(t, "flag", none, none.copy(), None, text)


def car_median_lap_s(lap_time_s: np.ndarray) -> float:
    """A car's median lap time (s) over its timed laps; NaN when it has none."""
    times = np.asarray(lap_time_s, dtype=float)
    times = times[np.isfinite(times)]
    return float(np.median(times)) if len(times) else np.nan


def retired_events(number: np.ndarray, cls: np.ndarray, last_lap: np.ndarray,
                   last_elapsed_s: np.ndarray, median_lap_s: np.ndarray,
                   now_s: float) -> dict[str, np.ndarray]:
    """``retired`` events of cars (one row each): silent for more than
    ``RETIRED_MEDIAN_LAPS`` × their median lap after their last crossing, while the race's
    latest crossing (``now_s``) is later still."""
    last_elapsed_s = np.asarray(last_elapsed_s, dtype=float)
    at = last_elapsed_s + RETIRED_MEDIAN_LAPS * np.asarray(median_lap_s, dtype=float)
    rows = np.flatnonzero(np.isfinite(at) & (now_s > at))
    if not len(rows):
        return empty_events()
    number, cls, last_lap = (np.asarray(number, dtype=object), np.asarray(cls, dtype=object),
                             np.asarray(last_lap, dtype=np.int64))
    text = [f"#{number[r]} out: no crossing since lap {last_lap[r]} at "
            f"{format_duration(last_elapsed_s[r])}" for r in rows]
    return _events(at[rows], "retired", number[rows], cls[rows], last_lap[rows], text)


def alert_events(alerts: pd.DataFrame) -> pd.DataFrame:
    """``alert`` events of stored alerts (``race.schema.ALERTS`` rows, labels left out)."""
    if alerts is None or alerts.empty:
        return pd.DataFrame(empty_events())
    alerts = alerts[alerts["kind"].ne("neutralised")]
    text = [f"#{n} {k}" + (f": {r}" if isinstance(r, str) and r else "")
            for n, k, r in zip(alerts["number"], alerts["kind"], alerts["reason"], strict=True)]
    return pd.DataFrame(_events(alerts["elapsed_s"].to_numpy(dtype=float), "alert",
                                alerts["number"].to_numpy(dtype=object),
                                _objects(alerts["class"]),
                                alerts["lap_number"].to_numpy(), text))


# -- a whole race ------------------------------------------------------------------------------
def events_frame(columns: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Event column arrays as a frame of the stored dtypes, in time order."""
    frame = pd.DataFrame({c: columns[c] for c in EVENT_COLUMNS})
    frame["t_s"] = frame["t_s"].astype(float)
    frame["lap"] = pd.array(frame["lap"].tolist(), dtype="Int64")
    return sort_events(frame)


def sort_events(frame: pd.DataFrame) -> pd.DataFrame:
    """Events in time order; ties by kind (``KINDS``), car number and lap."""
    rank = np.array([KIND_RANK.get(k, len(KINDS)) for k in frame["kind"].tolist()])
    order = np.lexsort((frame["lap"].fillna(-1).to_numpy(dtype=np.int64),
                        pd.factorize(frame["number"].fillna(""), sort=True)[0],
                        rank, frame["t_s"].to_numpy(dtype=float)))
    return frame.iloc[order].reset_index(drop=True)


def car_summaries(number: np.ndarray, lap: np.ndarray, elapsed: np.ndarray,
                  lap_time: np.ndarray, cls: np.ndarray) -> tuple[np.ndarray, ...]:
    """(number, class, last lap, last crossing, median lap) per car of laps sorted by car
    then lap."""
    starts = np.flatnonzero(np.r_[True, number[1:] != number[:-1]])
    ends = np.r_[starts[1:], len(number)] - 1
    medians = np.array([car_median_lap_s(lap_time[a:b + 1])
                        for a, b in zip(starts, ends, strict=True)], dtype=float)
    return number[starts], cls[ends], lap[ends], elapsed[ends], medians


def _car_runs_in_lap_order(laps: pd.DataFrame) -> bool:
    """Whether each car's rows are together and in lap order (derived laps are)."""
    number = laps["number"].to_numpy(dtype=object)
    lap = laps["lap_number"].to_numpy(dtype=np.int64)
    change = np.r_[True, number[1:] != number[:-1]]
    return bool(int(change.sum()) == len(pd.unique(number))
                and (np.diff(lap)[~change[1:]] > 0).all())


def race_events(laps: pd.DataFrame, periods: pd.DataFrame | None) -> pd.DataFrame:
    """Every stored event of a race (all kinds but ``alert``) from its derived laps and
    flag periods, in time order (``EVENT_COLUMNS``)."""
    if laps is None or laps.empty:
        return events_frame(empty_events())
    if not _car_runs_in_lap_order(laps):
        laps = laps.sort_values(["number", "lap_number"], kind="stable")
    if "pit_lane_start" not in laps:
        first = ~laps["number"].duplicated()
        laps = laps.assign(pit_lane_start=first & laps["pit_time_s"].notna())
    cols = {c: laps[c].to_numpy() for c in LAP_COLUMNS}
    number = _objects(laps["number"])
    has_prev = np.r_[False, number[1:] == number[:-1]]
    prev = {c: np.r_[cols[c][:1], cols[c][:-1]] if len(number) else cols[c]
            for c in PREV_COLUMNS}
    elapsed, lap_time = _floats(cols["elapsed_s"]), _floats(cols["lap_time_s"])
    lap = cols["lap_number"].astype(np.int64)
    cars = car_summaries(number, lap, elapsed, lap_time, _objects(cols["class"]))
    now = float(np.nanmax(elapsed)) if np.isfinite(elapsed).any() else np.nan
    return events_frame(concat_events([
        lap_events(cols, prev, has_prev),
        class_events(cols, {}),
        flag_events(periods),
        retired_events(*cars, now),
    ]))
