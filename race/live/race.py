"""One live race held in memory, and what each batch of new laps changes in its tables.

The official import derives a race once from all its laps (``race.importer``). A live race
grows by a few laps every poll; re-deriving and replacing it each time would cost far more
than a poll may take. ``LiveRace`` instead keeps the race's laps as columns in memory and,
for each batch of new laps, works out the exact rows that change — using the same
``race.analysis`` functions the import uses, applied to the tail:

- per-car columns (in/out lap, stint, lap in stint) of the new laps, continuing from each
  car's previous lap (``car_columns`` with a context row);
- flag periods rebuilt from all crossings and the neutralised/restart/clean flags of every
  lap (vectorised, cheap); only the laps whose flags changed are written;
- stints touched by new or changed laps, new or changed pit stops, new cars; stored cars'
  lap counts with the races row (every tenth batch and when the session stops);
- the race feed (``race.analysis.events``): pit and driver events of the new laps, each
  class's leader and fastest lap continued from its state (a class recomputed whole when a
  new crossing is not later than its last one), flag events when the periods change, and
  the retirements that start or end.

The result is a ``StoreDelta`` that ``RaceStore.apply_live_delta`` writes in one
transaction. Derived tables therefore equal what importing the same laps would produce.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from race.analysis import events as feed
from race.analysis import stints as stint_tables
from race.analysis.flags import SortedCrossings, rebuild_flag_periods
from race.analysis.laps import car_columns, median_lap_s, neutral_columns
from race.rows import Rows, nullable_ints
from race.schema import LAPS

# Columns kept in memory: everything derivation needs (not sectors, speeds, sources).
# ``pit_lane_start`` is derived but not stored: rebuilt on load.
KEEP = ("number", "lap_number", "driver_number", "driver_name", "class", "team",
        "manufacturer", "group_code", "lap_time_s", "elapsed_s", "start_s", "pit_time_s",
        "flag", "crossing_in_pit", "in_lap", "out_lap", "pit_lane_start", "stint_number",
        "lap_in_stint", "neutralised", "restart_lap", "clean")
_FLOAT = ("lap_time_s", "elapsed_s", "start_s", "pit_time_s", "driver_number")
_BOOL = ("crossing_in_pit", "in_lap", "out_lap", "pit_lane_start", "neutralised",
         "restart_lap", "clean")
_INT = ("lap_number", "stint_number", "lap_in_stint")
STORED_KEEP = [c for c in KEEP if c != "pit_lane_start"]
STINT_COLUMNS = ("number", "stint_number", "class", "driver_number", "driver_name",
                 "lap_number", "start_s", "elapsed_s", "clean", "neutralised", "lap_time_s",
                 "in_lap")
STOP_COLUMNS = ("number", "lap_number", "in_lap", "elapsed_s", "start_s", "pit_time_s",
                "driver_name", "driver_number", "neutralised", "class", "stint_number")
CAR_COLUMNS = ("number", "class", "team", "manufacturer", "group_code", "lap_number",
               "pit_lane_start")
PERIOD_COLUMNS = ["period_number", "flag", "start_s", "end_s", "inferred"]
# Lap columns given as floats (NaN = unknown) when new rows become arrays.
_FLOAT_ROW_COLUMNS = {c for c, t in LAPS.columns if t == "DOUBLE"} | {"driver_number"}
LAP_NAMES = [c for c in LAPS.names if c != "race_id"]
EMPTY = Rows()  # no rows (for any table)


def _dtype(column: str) -> object:
    if column in _FLOAT:
        return np.float64
    if column in _BOOL:
        return np.bool_
    if column in _INT:
        return np.int64
    return object


class _Columns:
    """Growable column arrays (amortised O(1) appends, zero-copy views)."""

    def __init__(self) -> None:
        self.n = 0
        self.data = {c: np.empty(1024, dtype=_dtype(c)) for c in KEEP}

    def append(self, frame: pd.DataFrame | dict[str, np.ndarray]) -> np.ndarray:
        count = len(frame["number"])
        need = self.n + count
        capacity = len(self.data["number"])
        if need > capacity:
            size = max(need, capacity * 2)
            for c, arr in self.data.items():
                grown = np.empty(size, dtype=arr.dtype)
                grown[: self.n] = arr[: self.n]
                self.data[c] = grown
        for c, arr in self.data.items():
            values = frame[c]
            if c == "driver_number":
                values = pd.to_numeric(values, errors="coerce")
            arr[self.n: need] = np.asarray(values, dtype=arr.dtype)
        rows = np.arange(self.n, need)
        self.n = need
        return rows

    def view(self, column: str) -> np.ndarray:
        return self.data[column][: self.n]

    def arrays(self, rows: np.ndarray, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Rows of some columns as arrays (what the analysis functions read; no DataFrame)."""
        return {c: self.data[c][rows] for c in columns}

    def take(self, rows: np.ndarray | None, columns: tuple[str, ...] = KEEP) -> pd.DataFrame:
        """Rows (None = all, without copying) of some columns as a DataFrame."""
        data = {}
        for c in columns:
            values = self.data[c][: self.n] if rows is None else self.data[c][rows]
            # object columns stay object: inferring Arrow strings costs more than the rest
            data[c] = (pd.Series(values, dtype=object, copy=False) if values.dtype == object
                       else values)
        frame = pd.DataFrame(data, copy=False)
        if "driver_number" in frame:
            frame["driver_number"] = frame["driver_number"].astype("Int64")
        return frame


@dataclass
class StoreDelta:
    """Everything one batch of new laps changes, ready for one write transaction.

    Rows (``Rows`` column arrays, or DataFrames for the rare ``cars`` rows) carry the
    stored columns without ``race_id``. ``stints`` and ``cars`` rows update stored rows with
    the same key (``cars`` only with ``race``), ``new_stints``/``new_cars`` are inserted;
    ``pit_stops`` replace rows with the same key, ``new_pit_stops`` are inserted; ``drivers``
    and ``markers`` rows are new ones (inserted); ``flag_periods`` (when not None) replaces
    the race's periods; ``period_end`` moves the end of the last period (an open
    neutralisation). ``race`` holds the races row's counts when they are worth rewriting
    (new car or class, or every tenth batch).
    """

    race_id: str
    laps: Rows
    lap_flags: Rows
    stints: Rows
    pit_stops: Rows
    cars: pd.DataFrame | Rows
    drivers: Rows
    flag_periods: pd.DataFrame | None
    markers: Rows
    race: dict = field(default_factory=dict)
    new_stints: Rows = field(default_factory=Rows)
    new_cars: pd.DataFrame | Rows = field(default_factory=Rows)
    new_pit_stops: Rows = field(default_factory=Rows)
    period_end: tuple[int, float] | None = None  # (period_number, end_s) of a growing period
    events: Rows = field(default_factory=Rows)  # new events, inserted
    # (kind, column, value) of stored events to delete first (column None: the whole kind)
    events_drop: list[tuple[str, str | None, object]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.laps.empty and self.markers.empty


class LiveRace:
    """The laps of one race in memory, extended batch by batch.

    Args:
        race_id: the stored race.
        laps: the laps already stored (derived columns included), any order.
        periods: the stored flag periods.
        vehicles: car number → vehicle name shown by the feed.
    """

    def __init__(self, race_id: str, laps: pd.DataFrame | None = None,
                 periods: pd.DataFrame | None = None) -> None:
        self.race_id = race_id
        self.columns = _Columns()
        self.car_rows: dict[str, list[int]] = {}
        self.drivers: set[tuple[str, int]] = set()
        self.vehicles: dict[str, str] = {}
        self.stored_drivers: set[tuple[str, int]] = set()  # (number, driver_number) rows
        self.stored_stints: set[tuple[str, int]] = set()  # (number, stint_number) rows
        self.stored_cars: set[str] = set()
        self.stored_stops: set[tuple[str, int]] = set()  # (number, stop_number) rows
        # Stored cars whose row is behind (laps completed): written with the races row.
        self.cars_behind: set[str] = set()
        self.crossings = SortedCrossings()  # known flags by time, for the flag periods
        # (number, lap_number, reason) of the stored backfill markers (set by the session)
        self.stored_markers: set[tuple[str, int, str]] = set()
        self._batches = 0
        self._race_cars = -1
        self._refresh_due = False
        self.periods = (periods[PERIOD_COLUMNS].reset_index(drop=True)
                        if periods is not None and len(periods) else
                        pd.DataFrame(columns=PERIOD_COLUMNS))
        # The race feed's state: each class's leader and best lap after its last crossing,
        # the cars' median laps, the latest crossing and the cars shown as retired.
        self.event_classes: dict[str, feed.ClassState] = {}
        self.car_median_s: dict[str, float] = {}
        self.now_s = -np.inf
        self.retired: dict[str, float] = {}  # number → t_s of its stored retired event
        if laps is not None and len(laps):
            laps = laps.sort_values(["number", "lap_number"], kind="stable")
            if "pit_lane_start" not in laps:  # not a stored column: the car's first row
                first = ~laps["number"].duplicated()
                laps = laps.assign(pit_lane_start=first & laps["pit_time_s"].notna())
            self._append(laps.assign(**{c: None for c in KEEP if c not in laps.columns}))
            self.stored_drivers = set(self.drivers)
            self.stored_stints = set(zip(laps["number"], laps["stint_number"].astype(int),
                                         strict=True))
            self.stored_cars = set(self.car_rows)
            self.cars_behind = set(self.car_rows)  # the stored rows may be behind
            stop = laps["pit_time_s"].notna() & ~laps["pit_lane_start"].astype(bool)
            self.stored_stops = set(zip(laps.loc[stop, "number"],
                                        laps.loc[stop, "stint_number"].astype(int) - 1,
                                        strict=True))
            # the stored events: the state they leave (made by the import or earlier polls)
            all_rows = np.arange(self.columns.n)
            feed.class_events(self.columns.arrays(all_rows, feed.LAP_COLUMNS),
                              self.event_classes)
            self._retired_changes(list(self.car_rows))

    @property
    def lap_count(self) -> int:
        return self.columns.n

    def car_laps(self, number: str) -> int:
        rows = self.car_rows.get(number)
        return int(self.columns.view("lap_number")[rows[-1]]) if rows else 0

    def _append(self, frame: pd.DataFrame | dict[str, np.ndarray]) -> np.ndarray:
        """Append lap rows (every ``KEEP`` column) to the columns; their row numbers."""
        rows = self.columns.append(frame)
        cols = self.columns
        self.crossings.add(cols.data["elapsed_s"][rows], cols.data["flag"][rows])
        numbers = cols.data["number"][rows]
        for number, row in zip(numbers, rows, strict=True):
            self.car_rows.setdefault(number, []).append(int(row))
        for number, dn in zip(numbers, cols.data["driver_number"][rows], strict=True):
            if dn == dn:
                self.drivers.add((number, int(dn)))
        return rows

    def _context(self, numbers: list[str]) -> dict[str, np.ndarray]:
        last = np.array([self.car_rows[n][-1] for n in numbers if n in self.car_rows],
                        dtype=np.int64)
        return self.columns.arrays(last, ("number", "in_lap", "stint_number", "lap_in_stint"))

    def add_laps(self, rows: list[dict], markers: list[tuple[str, int, str]] = (),
                 vehicles: dict[str, str] | None = None) -> StoreDelta:
        """Append new lap rows and work out every stored row they change.

        Args:
            rows: new laps (stored lap columns, unknown values None), any order; each car's
                laps must follow its stored ones.
            markers: (number, lap_number, reason) backfill markers to store.
            vehicles: car number → vehicle, for the cars table.
        """
        for number, vehicle in (vehicles or {}).items():
            if vehicle:
                self.vehicles[number] = vehicle
        fresh = [(str(n), int(lap), str(r)) for n, lap, r in markers]
        fresh = list(dict.fromkeys(m for m in fresh if m not in self.stored_markers))
        self.stored_markers.update(fresh)
        marker_rows = Rows({"number": [m[0] for m in fresh],
                            "lap_number": [m[1] for m in fresh],
                            "reason": [m[2] for m in fresh]}) if fresh else EMPTY
        if not rows:
            return self._delta(EMPTY, {}, [], None,
                               np.zeros(0, dtype=int), marker_rows)
        # by car then lap (a Python sort of a few rows: cheaper than a DataFrame's)
        rows = sorted(rows, key=lambda r: (str(r["number"]), int(r["lap_number"])))
        # Column arrays, not a DataFrame: a poll's few rows would cost more to frame (Arrow
        # strings inferred on every column) than everything derived from them.
        new = _row_arrays(rows)
        number_values, lap_values = new["number"], new["lap_number"]
        starts = np.flatnonzero(np.r_[True, number_values[1:] != number_values[:-1]])
        numbers = [str(n) for n in number_values[starts]]
        for number, first in zip(numbers, lap_values[starts], strict=True):
            if int(first) != self.car_laps(number) + 1:
                raise ValueError(f"car {number}: new laps start at {int(first)}, expected "
                                 f"{self.car_laps(number) + 1}")
        derived = {**new, **car_columns(new, self._context(numbers))}
        for column in KEEP:  # the columns a feed does not give (manufacturer, ...): None
            if column not in derived:
                derived[column] = np.full(len(rows), None, dtype=object)
        new_rows = self._append(derived)

        # Flag periods from every crossing, then neutral/restart/clean of every lap.
        cols = self.columns
        flag_frame = {c: cols.view(c) for c in ("number", "lap_number", "elapsed_s", "flag",
                                                 "lap_time_s", "class", "in_lap", "out_lap",
                                                 "start_s")}
        periods = (self.crossings.periods() if len(self.crossings)  # else inferred
                   else rebuild_flag_periods(flag_frame).reset_index(drop=True))
        change = _period_change(periods, self.periods)
        old_periods = self.periods
        self.periods = periods
        neutral, restart, clean = neutral_columns(flag_frame, periods,
                                                  median_lap_s(flag_frame["lap_time_s"]))
        old = slice(0, int(new_rows[0]))
        changed = np.flatnonzero((cols.view("neutralised")[old] != neutral[old])
                                 | (cols.view("restart_lap")[old] != restart[old])
                                 | (cols.view("clean")[old] != clean[old]))
        cols.view("neutralised")[:] = neutral
        cols.view("restart_lap")[:] = restart
        cols.view("clean")[:] = clean
        derived.update(neutralised=neutral[new_rows], restart_lap=restart[new_rows],
                       clean=clean[new_rows])
        # what is stored: the table's columns that have a value (the rest are NULL anyway)
        laps_out = Rows({c: _stored(c, derived[c]) for c in LAP_NAMES if c in derived
                         and not _all_missing(derived[c])})
        delta = self._delta(laps_out, derived, numbers,
                            periods if change == "all" else None, changed, marker_rows,
                            new_rows)
        if change == "last-end":  # an open period grows: one value moves
            last = periods.iloc[-1]
            delta.period_end = (int(last["period_number"]), float(last["end_s"]))
        delta.events, delta.events_drop = self._events(new_rows, starts, numbers, change,
                                                       old_periods)
        return delta

    def _events(self, new_rows: np.ndarray, starts: np.ndarray, numbers: list[str],
                change: str, old_periods: pd.DataFrame,
                ) -> tuple[Rows, list[tuple[str, str | None, object]]]:
        """The race feed's new events and the stored ones they replace (``StoreDelta``)."""
        cols = self.columns
        drops: list[tuple[str, str | None, object]] = []
        # pit in / out and driver changes: each new lap with the car's previous one
        prev = np.full(len(new_rows), -1, dtype=np.int64)
        bounds = np.r_[starts, len(new_rows)]
        for j, number in enumerate(numbers):
            a, b = int(bounds[j]), int(bounds[j + 1])
            car = self.car_rows[number]
            before = len(car) - (b - a) - 1
            prev[a] = car[before] if before >= 0 else -1
            prev[a + 1:b] = new_rows[a:b - 1]
        has_prev = prev >= 0
        new = cols.arrays(new_rows, feed.LAP_COLUMNS)
        parts = [feed.lap_events(new, cols.arrays(np.maximum(prev, 0), feed.PREV_COLUMNS),
                                 has_prev)]
        # class leader and fastest lap: continued, or the class again from all its laps
        classes = {c for c in new["class"] if isinstance(c, str)}
        redo = set()
        for name in classes:
            state = self.event_classes.get(name)
            mine = (new["class"] == name) & np.isfinite(new["elapsed_s"])
            if state is not None and mine.any() and \
                    new["elapsed_s"][mine].min() <= state.last_elapsed_s:
                redo.add(name)
        parts.append(feed.class_events(new, self.event_classes, classes - redo))
        for name in sorted(redo):
            self.event_classes[name] = feed.ClassState()
            rows = np.flatnonzero(cols.view("class") == name)
            parts.append(feed.class_events(cols.arrays(rows, feed.LAP_COLUMNS),
                                           self.event_classes, {name}))
            drops.extend((kind, "class", name) for kind in feed.CLASS_KINDS)
        # flags: all again when the periods changed, the last one when only its end moved
        if change == "all":
            drops.append(("flag", None, None))
            parts.append(feed.flag_events(self.periods))
        elif change == "last-end":
            last = old_periods.iloc[-1]
            drops.extend([("flag", "t_s", float(last["start_s"])),
                          ("flag", "t_s", float(last["end_s"]))])
            parts.append(feed.flag_events(self.periods.iloc[-1:]))
        # retirements that start (a silent car) or end (it crossed again)
        for number in numbers:
            car = self.car_rows[number]
            self.car_median_s[number] = feed.car_median_lap_s(
                cols.view("lap_time_s")[np.asarray(car)])
        retired, gone = self._retired_changes(numbers)
        drops.extend(("retired", "number", n) for n in gone)
        parts.append(retired)
        events = feed.concat_events(parts)
        return (Rows(events) if len(events["t_s"]) else EMPTY), drops

    def _retired_changes(self, numbers: list[str]) -> tuple[dict[str, np.ndarray], list[str]]:
        """(retired events now due, cars whose stored retired event no longer holds);
        ``numbers``: the cars with new laps (their median is refreshed)."""
        cols = self.columns
        elapsed = cols.view("elapsed_s")
        for number in numbers:
            if number not in self.car_median_s:
                self.car_median_s[number] = feed.car_median_lap_s(
                    cols.view("lap_time_s")[np.asarray(self.car_rows[number])])
            last = elapsed[self.car_rows[number][-1]]
            if last == last and last > self.now_s:
                self.now_s = float(last)
        gone = []
        for number in numbers:  # a car that crossed again is not retired
            if number in self.retired:
                del self.retired[number]
                gone.append(number)
        cars = [n for n in self.car_rows if n not in self.retired]
        last = np.array([self.car_rows[n][-1] for n in cars], dtype=np.int64)
        events = feed.retired_events(
            np.array(cars, dtype=object), cols.view("class")[last],
            cols.view("lap_number")[last], elapsed[last],
            np.array([self.car_median_s.get(n, np.nan) for n in cars], dtype=float),
            self.now_s)
        for number, t_s in zip(events["number"], events["t_s"], strict=True):
            self.retired[number] = float(t_s)
        return events, gone

    def _delta(self, laps_out: Rows, derived: dict[str, np.ndarray], numbers: list[str],
               periods: pd.DataFrame | None, changed: np.ndarray, markers: Rows,
               new_rows: np.ndarray | None = None) -> StoreDelta:
        cols = self.columns
        empty = EMPTY
        if laps_out.empty and not len(changed):
            return StoreDelta(self.race_id, laps_out, empty, empty, empty, empty, empty,
                              periods, markers, self.race_fields())
        new_rows = new_rows if new_rows is not None else np.zeros(0, dtype=int)
        lap_flags = (Rows(cols.arrays(changed, ("number", "lap_number", "neutralised",
                                                "restart_lap", "clean")))
                     if len(changed) else empty)
        touched = np.concatenate([new_rows, changed]).astype(int)
        # Stints touched by a new or changed lap, recomputed whole.
        keys = set(zip(cols.view("number")[touched], cols.view("stint_number")[touched],
                       strict=True))
        stint_rows = self._rows_of(keys)
        stints = (Rows(stint_tables.stint_columns(cols.arrays(stint_rows, STINT_COLUMNS)))
                  if len(stint_rows) else empty)
        # Pit stops: new out-laps, and stops whose laps changed neutralisation.
        has_pit = ~np.isnan(cols.view("pit_time_s"))
        stop_row = has_pit & ~cols.view("pit_lane_start")
        candidates = set(new_rows[stop_row[new_rows]].tolist()) if len(new_rows) else set()
        for row in changed.tolist():
            rows = self.car_rows[cols.view("number")[row]]
            i = rows.index(row)
            for j in (i, i + 1):
                if j < len(rows) and j > 0 and stop_row[rows[j]]:
                    candidates.add(rows[j])
        stops = self._stops(sorted(candidates)) if candidates else empty
        # a new stop or stint is a plain insert; a known one (its laps moved) is rewritten
        new_stops, stops = _split_new(stops, "stop_number", self.stored_stops)
        new_stints, stints = _split_new(stints, "stint_number", self.stored_stints)
        fresh_cars = [n for n in numbers if n not in self.stored_cars]
        new_cars = self._cars(fresh_cars) if fresh_cars else empty
        self.stored_cars.update(fresh_cars)
        # A stored car's row (laps completed, team, vehicle) is rewritten with the races
        # row (every tenth batch, a new car or class, and when the session stops), not on
        # every lap: no page reads a car's lap count from it (they count laps), and one
        # statement less per poll is a tenth of the poll's budget.
        self.cars_behind.update(n for n in numbers if n not in fresh_cars)
        race = self.race_fields(busy=len(new_stints) > 0 or len(new_stops) > 0)
        cars = self.car_updates() if race else empty
        drivers = _new_drivers(derived, self.stored_drivers) if derived else empty
        return StoreDelta(self.race_id, laps_out, lap_flags, stints, stops, cars, drivers,
                          periods, markers, race, new_stints, new_cars, new_stops)

    def _rows_of(self, keys: set[tuple[str, int]]) -> np.ndarray:
        stint = self.columns.view("stint_number")
        out: list[np.ndarray] = []
        by_car: dict[str, set[int]] = {}
        for number, s in keys:
            by_car.setdefault(number, set()).add(int(s))
        for number, wanted in by_car.items():
            rows = np.asarray(self.car_rows[number])
            out.append(rows[np.isin(stint[rows], list(wanted))])
        return np.concatenate(out) if out else np.zeros(0, dtype=int)

    def _stops(self, rows: list[int]) -> Rows:
        cols = self.columns
        prev = []
        for row in rows:
            car = self.car_rows[cols.view("number")[row]]
            prev.append(car[car.index(row) - 1])
        stops = stint_tables.stop_columns(cols.arrays(np.array(rows), STOP_COLUMNS),
                                          cols.arrays(np.array(prev), STOP_COLUMNS))
        stops["stop_number"] = cols.view("stint_number")[np.array(rows)] - 1
        return Rows(stops)

    def _cars(self, numbers: list[str]) -> pd.DataFrame:
        rows = []
        for number in numbers:
            car = self.car_rows[number]
            rows.extend([car[0], car[-1]] if len(car) > 1 else [car[0]])
        frame = stint_tables.cars(self.columns.take(np.array(rows), CAR_COLUMNS))
        frame["vehicle"] = frame["number"].map(self.vehicles)
        return frame

    def car_updates(self) -> pd.DataFrame:
        """Stored cars whose row is behind, brought up to date (and no longer behind): laps
        completed (their last lap) and what may change during a race (class, team shown by
        the feed); the rest of the row stays."""
        numbers = sorted(self.cars_behind & self.stored_cars)
        self.cars_behind.clear()
        if not numbers:
            return pd.DataFrame()
        last = np.array([self.car_rows[n][-1] for n in numbers])
        cols = self.columns
        return pd.DataFrame({
            "number": numbers, "laps": cols.view("lap_number")[last],
            "class": cols.view("class")[last], "team": cols.view("team")[last],
            "vehicle": [self.vehicles.get(n) for n in numbers]})

    def race_fields(self, force: bool = False, busy: bool = False) -> dict:
        """The races row's counts, when a car or class is new or every tenth batch.

        A due refresh waits while ``busy`` (a batch that already writes a pit stop or a new
        stint): it comes with the next lighter batch, so no batch pays for both.
        """
        self._batches += 1
        cars = len(self.car_rows)
        self._refresh_due = self._refresh_due or self._batches % 10 == 0
        if not force and cars == self._race_cars and (busy or not self._refresh_due):
            return {}
        classes = sorted({c for c in self.columns.view("class") if isinstance(c, str)})
        self._race_cars = cars
        self._refresh_due = False
        return {"laps": self.columns.n, "cars": cars, "classes": ",".join(classes)}


def _row_arrays(rows: list[dict]) -> dict[str, np.ndarray]:
    """New lap rows as column arrays: DOUBLE columns (and the driver number) float with NaN
    for unknown, lap numbers int, the rest object with None for unknown."""
    names = list(dict.fromkeys(name for row in rows for name in row))
    out = {}
    for name in names:
        values = [row.get(name) for row in rows]
        if name in _FLOAT_ROW_COLUMNS:
            out[name] = np.array([np.nan if v is None or v is pd.NA else v for v in values],
                                 dtype=float)
        elif name == "lap_number":
            out[name] = np.array(values, dtype=np.int64)
        else:
            out[name] = np.array([None if v is pd.NA or (isinstance(v, float) and v != v)
                                  else v for v in values], dtype=object)
    return out


def _all_missing(values: np.ndarray) -> bool:
    if values.dtype == float:
        return bool(np.isnan(values).all())
    return values.dtype == object and all(v is None for v in values)


def _stored(column: str, values: np.ndarray) -> np.ndarray:
    """A lap column as stored: the driver number as Python ints (None when unknown)."""
    if column != "driver_number":
        return values
    return nullable_ints(values.tolist())


def _new_drivers(laps: dict[str, np.ndarray], stored: set[tuple[str, int]]) -> Rows:
    """Drivers rows (number, driver_number, driver_name: the first name given) of the
    (car, driver index) pairs in ``laps`` that are not in ``stored``; they are added to it."""
    names: dict[tuple[str, int], object] = {}
    for number, index, name in zip(laps["number"], laps["driver_number"],
                                   laps["driver_name"], strict=True):
        if index == index:  # NaN: driver unknown
            key = (number, int(index))
            if key not in stored and names.get(key) is None:
                names[key] = name
    if not names:
        return EMPTY
    stored.update(names)
    return Rows({"number": [k[0] for k in names], "driver_number": [k[1] for k in names],
                 "driver_name": list(names.values())})


def _split_new(rows: Rows, number_column: str, stored: set[tuple[str, int]],
               ) -> tuple[Rows, Rows]:
    """(rows whose (number, ``number_column``) key is not in ``stored``, the stored ones);
    the new keys are added to ``stored``. Usually one side is empty: no copy then."""
    if rows.empty:
        return rows, rows
    keys = list(zip(rows["number"].tolist(), rows[number_column].tolist(), strict=True))
    fresh = np.array([k not in stored for k in keys], dtype=bool)
    stored.update(k for k, f in zip(keys, fresh, strict=True) if f)
    if not fresh.any():
        return EMPTY, rows
    if fresh.all():
        return rows, EMPTY
    return rows.take(fresh), rows.take(~fresh)


def _period_change(new: pd.DataFrame, old: pd.DataFrame) -> str:
    """``none``, ``last-end`` (only the last period's end moved: an open neutralisation
    growing) or ``all``."""
    if len(new) != len(old):
        return "all"
    if not len(new):
        return "none"
    if not np.array_equal(new["flag"].to_numpy(), old["flag"].to_numpy()):
        return "all"
    start_same = np.allclose(new["start_s"].to_numpy(dtype=float),
                             old["start_s"].to_numpy(dtype=float), rtol=0, atol=1e-9)
    end_new = new["end_s"].to_numpy(dtype=float)
    end_old = old["end_s"].to_numpy(dtype=float)
    if not start_same or not np.allclose(end_new[:-1], end_old[:-1], rtol=0, atol=1e-9):
        return "all"
    return "none" if abs(end_new[-1] - end_old[-1]) <= 1e-9 else "last-end"
