"""What each dashboard page shows, as plain DataFrames: leaderboard rows, chart data, tables.

UI-free (no Streamlit) and no SQL: rows come from ``race.store`` read methods and
``race.present.queries``; the analysis itself lives in ``race.analysis``. Times stay numeric
(seconds) so tables sort correctly; ``race.present.presentation`` turns them into text
when displayed.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from race.errors import NotFoundError, RaceDataError
from race.present.presentation import (
    class_sort_key,
    event_title,
    gap_text,
    lap_time_text,
    sector_text,
)
from race.store import RaceStore

log = logging.getLogger(__name__)

# -- race picker -----------------------------------------------------------------------------


def race_title(race: dict) -> str:
    """``IMSA 2024 · Sebring 12 Hours · Race`` for a race row (``store.race``)."""
    season = race.get("season")
    year = "" if season is None or pd.isna(season) else f" {int(season)}"
    name = event_title(race.get("event"), race.get("track"), race.get("duration_s"))
    return f"{race.get('series') or ''}{year} · {name} · {race.get('session') or 'Race'}"


def race_choices(races: pd.DataFrame) -> pd.DataFrame:
    """One row per stored race with the labels of the sidebar picker.

    Returns:
        ``race_id, series, season, event, session, event_label, imported_at``, newest
        import first.
    """
    columns = ["race_id", "series", "season", "event", "session", "event_label", "imported_at"]
    if races.empty:
        return pd.DataFrame(columns=columns)
    frame = races.reset_index(drop=True)

    def label(season: object, name: object) -> str:
        year = "" if season is None or pd.isna(season) else str(int(season))
        return " · ".join(p for p in (year, str(name or "")) if p)

    duration = frame["duration_s"] if "duration_s" in frame else pd.Series(None, index=frame.index)
    names = [event_title(e, t, d) for e, t, d in
             zip(frame["event"], frame["track"], duration, strict=True)]
    frame["event_label"] = [label(y, t) for y, t in zip(frame["season"], names, strict=True)]
    # Two events with one name in one season (IMSA runs twice at some tracks): add the
    # stored event so the picker can tell them apart.
    clash = frame.groupby(["series", "event_label"])["event"].transform("nunique").gt(1)
    frame.loc[clash, "event_label"] = [f"{lab} ({e})" for lab, e in
                                       zip(frame.loc[clash, "event_label"],
                                           frame.loc[clash, "event"], strict=True)]
    frame["session"] = frame["session"].fillna("Race")
    frame = frame.sort_values("imported_at", ascending=False, kind="stable")
    return frame[columns].reset_index(drop=True)


# -- live leaderboard ------------------------------------------------------------------------
# Every column a leaderboard row has, most read first; Laps before the gaps, as on the
# official timing screens. With the ring and the feed beside the board, Pos … Last fit at
# 1400 px; the rest scroll, Pos and No. pinned.
LEADERBOARD_COLUMNS = [
    "Pos", "No.", "PIC", "Class", "Driver", "Laps", "Gap", "Int", "Last", "Best", "S1", "S2",
    "S3", "Class gap", "Class int", "Pits", "Stint", "Last stop", "Status", "Team", "Car",
]
# A phone's leaderboard: who, where, how far, how fast.
COMPACT_COLUMNS = ["Pos", "No.", "Class", "Driver", "Gap", "Int", "Last"]
TIME_COLUMNS = ("Last", "Best", "S1", "S2", "S3", "Last stop")
SECTOR_COLUMNS = ("S1", "S2", "S3")
GAP_COLUMNS = ("Gap", "Int", "Class gap", "Class int")
LAYOUTS = ("full", "compact")


def leaderboard_columns(layout: str = "full", sectors: bool = False) -> list[str]:
    """The leaderboard's columns for a layout (``full`` or ``compact``).

    Args:
        layout: ``compact`` (phones: Pos, No., Class, Driver, Gap, Int, Last) or ``full``.
        sectors: show S1–S3 in the full layout (right after the lap times).
    """
    if layout == "compact":
        return list(COMPACT_COLUMNS)
    return [c for c in LEADERBOARD_COLUMNS if sectors or c not in SECTOR_COLUMNS]


def layout_from_query(value: object) -> str:
    """The layout a URL's ``?layout=`` asks for; ``full`` for anything else."""
    text = str(value or "").strip().lower()
    return text if text in LAYOUTS else "full"


@dataclass(frozen=True)
class RaceClock:
    """Race time shown above the leaderboard (seconds)."""

    elapsed_s: float
    remaining_s: float | None
    duration_s: float | None
    finished: bool


def race_clock(race: dict, t_s: float, flag: str) -> RaceClock:
    """Elapsed and remaining race time at ``t_s`` for a race row of ``store.race``."""
    duration = race.get("duration_s")
    duration = float(duration) if duration is not None and pd.notna(duration) else None
    finished = flag == "FF"
    remaining = None if duration is None else max(0.0, duration - t_s)
    if finished:
        remaining = 0.0
    return RaceClock(float(t_s), remaining, duration, finished)


def _interval_s(gap_s: pd.Series, group: pd.Series | None) -> pd.Series:
    """Numeric interval to the car ahead (for sorting); 0 for each group's leader."""
    diff = gap_s.diff() if group is None else gap_s.groupby(group, sort=False).diff()
    leader = gap_s.eq(0.0)
    return diff.mask(leader, 0.0)


def leaderboard(standings: pd.DataFrame, cars: pd.DataFrame) -> pd.DataFrame:
    """Leaderboard rows from ``race.analysis.standings`` output, fastest class first.

    Columns are ``LEADERBOARD_COLUMNS`` (times and gaps in seconds, numbers as text) plus
    helpers: ``number``, ``class``, ``personal_best_last``, ``overall_best_last`` and
    ``<column> text`` for the gap and time columns (``"+1.234"``, ``"2 laps"``, ``"—"``,
    ``"3:27.123"``): what to display.

    Args:
        standings: one row per car (``STANDING_COLUMNS``).
        cars: the race's ``cars`` table (for the vehicle name, when the results gave one).
    """
    if standings.empty:
        return pd.DataFrame(columns=[*LEADERBOARD_COLUMNS, "number", "class"])
    s = standings
    vehicle = s["number"].map(cars.set_index("number")["vehicle"]) if len(cars) else None
    car = s["manufacturer"] if vehicle is None else vehicle.fillna(s["manufacturer"])
    board = pd.DataFrame({
        "Pos": s["position"].astype(int),
        "PIC": s["class_position"].astype(int),
        "No.": s["number"].astype(str),
        "Class": s["class"].astype(str),
        "Team": s["team"],
        "Car": car,
        "Driver": s["driver"],
        "Laps": s["laps"].astype(int),
        "Gap": s["gap_to_leader_s"],
        "Int": _interval_s(s["gap_to_leader_s"], None),
        "Class gap": s["class_gap_s"],
        "Class int": _interval_s(s["class_gap_s"], s["class"]),
        "Last": s["last_lap_s"],
        "Best": s["best_lap_s"],
        "S1": s["s1_s"], "S2": s["s2_s"], "S3": s["s3_s"],
        "Pits": s["pit_stops"].astype(int),
        "Stint": s["laps_in_stint"].astype(int),
        "Last stop": s["last_pit_time_s"],
        "Status": s["status"],
        "number": s["number"].astype(str),
        "class": s["class"].astype(str),
        "personal_best_last": s["personal_best_last"].astype(bool),
        "overall_best_last": s["overall_best_last"].astype(bool),
        "Gap text": [gap_text(v) for v in s["gap_to_leader"]],
        "Int text": [gap_text(v) for v in s["interval"]],
        "Class gap text": [gap_text(v) for v in s["class_gap"]],
        "Class int text": [gap_text(v) for v in s["class_interval"]],
    })
    # A car that has not crossed the line yet has no gap at all.
    none = board["Laps"].eq(0)
    for col in GAP_COLUMNS:
        board.loc[none, f"{col} text"] = ""
    # Times as text once per data version (cached), not on every live refresh.
    for col in TIME_COLUMNS:
        fmt = sector_text if col in SECTOR_COLUMNS else lap_time_text
        board[f"{col} text"] = [fmt(v) for v in board[col]]
    rank = board["class"].map(lambda c: class_sort_key(c)[0])
    return (board.assign(_rank=rank).sort_values(["_rank", "class", "Pos"], kind="stable")
            .drop(columns="_rank").reset_index(drop=True))


def cars_per_class(board: pd.DataFrame) -> dict[str, int]:
    """Number of cars of each class on a leaderboard, fastest class first."""
    if board.empty:
        return {}
    counts = board.groupby("class", sort=False).size()
    return {str(c): int(counts[c]) for c in sorted(counts.index, key=class_sort_key)}


def car_options(cars: pd.DataFrame, classes: Iterable[str] | None = None) -> list[str]:
    """Car numbers of a race (optionally of some classes), fastest class first, then number."""
    if cars.empty:
        return []
    frame = cars if classes is None else cars[cars["class"].isin(list(classes))]
    keyed = sorted(zip(frame["class"], frame["number"].astype(str), strict=True),
                   key=lambda cn: (class_sort_key(cn[0]), _number_key(cn[1])))
    return [n for _, n in keyed]


def _number_key(number: str) -> tuple[int, str]:
    digits = re.sub(r"\D", "", number)
    return (int(digits) if digits else 10_000, number)


def car_labels(cars: pd.DataFrame) -> dict[str, str]:
    """``{"8": "#8 · Toyota Gazoo Racing (HYPERCAR)"}`` for pickers."""
    return {str(n): f"#{n} · {t} ({c})" for n, t, c in
            zip(cars["number"], cars["team"].fillna(""), cars["class"], strict=True)}


# -- laps page -------------------------------------------------------------------------------
LAP_CHART_COLUMNS = [
    "number", "class", "team", "lap_number", "driver_number", "driver_name", "lap_time_s",
    "elapsed_s", "start_s", "in_lap", "out_lap", "pit_time_s", "neutralised", "clean",
    "stint_number", "flag",
]


def lap_history(laps: pd.DataFrame) -> pd.DataFrame:
    """Per lap: position, class position and gap to the class leader at that line crossing.

    At the moment a car completes lap k, the cars ahead of it are exactly those that
    completed lap k earlier (a car with more laps crossed lap k before), so position = rank of
    its lap-k crossing time. The gap is to the first car of the class to complete lap k.

    Args:
        laps: ``number, class, lap_number, elapsed_s`` (+ any other columns, kept).
    """
    if laps.empty:
        return laps.assign(position=pd.Series(dtype=int), class_position=pd.Series(dtype=int),
                           class_gap_s=pd.Series(dtype=float))
    by_lap = laps.groupby("lap_number", sort=False)["elapsed_s"]
    by_class_lap = laps.groupby(["class", "lap_number"], sort=False)["elapsed_s"]
    return laps.assign(
        position=by_lap.rank(method="first").astype(int),
        class_position=by_class_lap.rank(method="first").astype(int),
        class_gap_s=(laps["elapsed_s"] - by_class_lap.transform("min")).round(3),
    )


@dataclass(frozen=True)
class RaceTrace:
    """A class's race trace: every car's gap to the class leader at each lap, in order."""

    laps: pd.DataFrame       # number, lap_number, elapsed_s, class_gap_s, trace_s (drawn)
    order: list[str]         # car numbers, class order at the latest crossing
    gap_max_s: float | None  # y-axis end: about a lap and a half of the class's pace


def race_trace(history: pd.DataFrame, cls: str, order: Iterable[str] | None = None,
               laps_shown: float = 1.5, smooth_laps: int = 1) -> RaceTrace:
    """The race trace of one class from ``lap_history`` rows.

    The gap at lap k is the time between the class's first car to complete lap k and this
    car's crossing of lap k, so a car falling back shows as a line running down. The axis
    ends ``laps_shown`` median clean laps behind the leader: cars further back leave the
    chart at its bottom edge instead of squeezing the fight for the lead.

    Args:
        history: ``lap_history`` output (every lap of the race).
        cls: the class.
        order: the cars to draw, in running order (the leaderboard's); default: every car
            of the class by laps and time.
        smooth_laps: window (laps) of the rolling median drawn as ``trace_s``; 1 = none.
    """
    rows = history[history["class"] == cls]
    if order is not None:
        order = [str(n) for n in order]
        rows = rows[rows["number"].astype(str).isin(order)]
    cols = ["number", "lap_number", "elapsed_s", "class_gap_s", "class_position", "neutralised"]
    rows = rows[[c for c in cols if c in rows.columns]]
    if rows.empty:
        return RaceTrace(rows.assign(trace_s=rows["class_gap_s"]), [], None)
    present = set(rows["number"].astype(str))
    if order is None:
        last = rows.sort_values(["lap_number", "elapsed_s"], ascending=[False, True])
        order = last.drop_duplicates("number")["number"].astype(str).tolist()
    ranked = [str(n) for n in order if str(n) in present]
    clean = history.loc[(history["class"] == cls)
                        & history["clean"].fillna(False).astype(bool), "lap_time_s"]
    pace = float(clean.median()) if len(clean) else None
    if smooth_laps > 1 and len(rows):
        # A centred rolling median per car: a pit stop cycle (the car's stop, then the
        # leader's) swings the gap for one to three laps; the trend stays, hover shows the
        # real gap (class_gap_s).
        rows = rows.sort_values(["number", "lap_number"], kind="stable")
        rows = rows.assign(trace_s=rows.groupby("number", sort=False)["class_gap_s"]
                           .transform(lambda g: g.rolling(smooth_laps, center=True,
                                                          min_periods=1).median()))
    else:
        rows = rows.assign(trace_s=rows["class_gap_s"])
    top = float(rows["trace_s"].max()) if len(rows) else 0.0
    gap_max = min(top, laps_shown * pace) if pace else top
    return RaceTrace(rows.reset_index(drop=True), ranked, max(gap_max, 1.0))


def driver_changes(laps: pd.DataFrame) -> pd.DataFrame:
    """Laps on which the driver changed (the out-lap of a stop with a new driver)."""
    if laps.empty:
        return laps
    same_car = laps["number"].eq(laps["number"].shift())
    changed = same_car & laps["driver_number"].ne(laps["driver_number"].shift())
    prev = laps["driver_name"].shift()
    return laps.loc[changed].assign(previous_driver=prev[changed])


def lap_time_range(laps: pd.DataFrame) -> tuple[float, float] | None:
    """A y-range (s) for lap-time charts that ignores neutralised laps, stops and repairs.

    Based on clean laps only: from just under the fastest to a little above the 90th
    percentile (Le Mans 2024, three Hypercars: 206–244 s, dry and wet racing laps; the 98th
    percentile of its clean laps reached 291 s and drew mostly spikes). Slower laps are drawn
    as marks at the top edge. None when there are no clean laps (the chart then autoscales).
    """
    clean = laps.loc[laps["clean"].fillna(False).astype(bool), "lap_time_s"].dropna()
    if clean.empty:
        return None
    low = float(clean.min())
    high = float(clean.quantile(0.90))
    pad = max(1.0, (high - low) * 0.08)
    return low - pad, high + pad


def _pace(laps: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    clean_time = laps["lap_time_s"].where(laps["clean"].fillna(False).astype(bool))
    work = laps.assign(clean_time=clean_time)
    return work.groupby(keys, sort=False).agg(
        best_clean_s=("clean_time", "min"), median_clean_s=("clean_time", "median"),
        clean_laps=("clean_time", "count"), laps=("lap_number", "size"),
    ).reset_index()


def pace_by_car(laps: pd.DataFrame, cars: pd.DataFrame) -> pd.DataFrame:
    """Clean-lap pace per car: best, median clean lap (s), clean laps, laps; by median."""
    cols = ["No.", "Class", "Team", "Best clean", "Median clean", "Clean laps", "Laps"]
    if laps.empty:
        return pd.DataFrame(columns=[*cols, "number", "class"])
    pace = _pace(laps, ["number"]).merge(cars[["number", "class", "team"]], on="number",
                                         how="left")
    frame = pd.DataFrame({
        "No.": pace["number"].astype(str), "Class": pace["class"], "Team": pace["team"],
        "Best clean": pace["best_clean_s"], "Median clean": pace["median_clean_s"],
        "Clean laps": pace["clean_laps"].astype(int), "Laps": pace["laps"].astype(int),
        "number": pace["number"].astype(str), "class": pace["class"],
    })
    return _by_class_then(frame, "Median clean")


def pace_by_driver(laps: pd.DataFrame) -> pd.DataFrame:
    """Clean-lap pace per driver of each car: best, median clean lap (s), clean laps, laps."""
    cols = ["No.", "Class", "Driver", "Best clean", "Median clean", "Clean laps", "Laps"]
    if laps.empty:
        return pd.DataFrame(columns=[*cols, "number", "class"])
    pace = _pace(laps, ["number", "driver_number"])
    names = laps.groupby(["number", "driver_number"], sort=False).agg(
        driver_name=("driver_name", "first"), cls=("class", "first")).reset_index()
    pace = pace.merge(names, on=["number", "driver_number"], how="left")
    frame = pd.DataFrame({
        "No.": pace["number"].astype(str), "Class": pace["cls"], "Driver": pace["driver_name"],
        "Best clean": pace["best_clean_s"], "Median clean": pace["median_clean_s"],
        "Clean laps": pace["clean_laps"].astype(int), "Laps": pace["laps"].astype(int),
        "number": pace["number"].astype(str), "class": pace["cls"],
    })
    return _by_class_then(frame, "Median clean")


def _by_class_then(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    rank = frame["class"].map(lambda c: class_sort_key(c)[0])
    return (frame.assign(_rank=rank).sort_values(["_rank", "class", column], kind="stable",
                                                 na_position="last")
            .drop(columns="_rank").reset_index(drop=True))


# -- stints and pits -------------------------------------------------------------------------
def pit_stop_rows(stops: pd.DataFrame, cars: pd.DataFrame) -> pd.DataFrame:
    """The pit stop table: car, stop, laps, race time, PIT_TIME, drivers, green/neutralised."""
    cols = ["No.", "Class", "Team", "Stop", "In lap", "Out lap", "Race time", "Pit time",
            "Driver in", "Driver out", "Driver change", "Under"]
    if stops.empty:
        return pd.DataFrame(columns=[*cols, "number", "class"])
    team = stops["number"].map(cars.set_index("number")["team"]) if len(cars) else None
    frame = pd.DataFrame({
        "No.": stops["number"].astype(str), "Class": stops["class"], "Team": team,
        "Stop": stops["stop_number"].astype(int), "In lap": stops["in_lap"].astype("Int64"),
        "Out lap": stops["out_lap"].astype("Int64"), "Race time": stops["pit_in_elapsed_s"],
        "Pit time": stops["pit_time_s"], "Driver in": stops["driver_in"],
        "Driver out": stops["driver_out"], "Driver change": stops["driver_change"].astype(bool),
        "Under": np.where(stops["neutralised"].astype(bool), "neutralised", "green"),
        "number": stops["number"].astype(str), "class": stops["class"],
    })
    return frame.sort_values("Race time", kind="stable").reset_index(drop=True)


def driver_stints(stints: pd.DataFrame) -> pd.DataFrame:
    """Consecutive car stints of the same driver merged: one row per driver stint."""
    if stints.empty:
        return stints.assign(driver_stint=pd.Series(dtype=int))
    s = stints.sort_values(["number", "stint_number"], kind="stable")
    new = s["number"].ne(s["number"].shift()) | s["driver_number"].ne(s["driver_number"].shift())
    s = s.assign(driver_stint=new.cumsum())
    return s.groupby("driver_stint", sort=False).agg(
        number=("number", "first"), cls=("class", "first"),
        driver_number=("driver_number", "first"), driver_name=("driver_name", "first"),
        start_s=("start_s", "first"), end_s=("end_s", "last"), laps=("laps", "sum"),
        drive_time_s=("drive_time_s", "sum"), car_stints=("stint_number", "size"),
    ).reset_index(drop=True).rename(columns={"cls": "class"})


def drive_time_rows(stints: pd.DataFrame) -> pd.DataFrame:
    """Per driver: total drive time (s), share of the car's time, laps, longest driver stint."""
    cols = ["No.", "Class", "Driver", "Drive time", "Share", "Laps", "Stints",
            "Longest stint"]
    if stints.empty:
        return pd.DataFrame(columns=[*cols, "number", "class"])
    runs = driver_stints(stints)
    per = runs.groupby(["number", "driver_number"], sort=False).agg(
        cls=("class", "first"), driver_name=("driver_name", "first"),
        drive_time_s=("drive_time_s", "sum"), laps=("laps", "sum"),
        stints=("drive_time_s", "size"), longest_s=("drive_time_s", "max")).reset_index()
    total = per.groupby("number")["drive_time_s"].transform("sum")
    frame = pd.DataFrame({
        "No.": per["number"].astype(str), "Class": per["cls"], "Driver": per["driver_name"],
        "Drive time": per["drive_time_s"], "Share": (per["drive_time_s"] / total).round(4),
        "Laps": per["laps"].astype(int), "Stints": per["stints"].astype(int),
        "Longest stint": per["longest_s"],
        "number": per["number"].astype(str), "class": per["cls"],
    })
    rank = frame["class"].map(lambda c: class_sort_key(c)[0])
    return (frame.assign(_rank=rank, _n=frame["No."].map(_number_key))
            .sort_values(["_rank", "_n", "Drive time"], ascending=[True, True, False],
                         kind="stable")
            .drop(columns=["_rank", "_n"]).reset_index(drop=True))


# -- live monitor status ---------------------------------------------------------------------
MONITOR_FRESH_S = 180.0  # a poll newer than this means the monitor is running


@dataclass(frozen=True)
class MonitorStatus:
    """What the live races' state says about live polling."""

    running: bool
    last_poll_at: datetime | None
    last_status: str | None
    source: str | None
    message: str | None
    polls: int  # polls of every race followed live (ok and failed)
    problems: tuple[str, ...] = ()  # "race: layout not understood: …" of active races


def monitor_status(live_rows: pd.DataFrame, now: datetime | None = None) -> MonitorStatus:
    """Summarise ``store.live_states()``: the most recently polled race's last poll.

    Args:
        live_rows: one row per race followed live (``last_poll_at``, ``last_status``,
            ``url``, ``last_message``, ``polls_ok``, ``polls_failed``).
        now: current UTC time (naive, like the store); default: now.
    """
    polled = (live_rows[live_rows["last_poll_at"].notna()] if len(live_rows) else live_rows)
    if polled.empty:
        return MonitorStatus(False, None, None, None, None, 0)
    last = polled.sort_values("last_poll_at", ascending=False).iloc[0]
    at = pd.Timestamp(last["last_poll_at"]).to_pydatetime()
    now = now or datetime.now(UTC).replace(tzinfo=None)
    running = (now - at) <= timedelta(seconds=MONITOR_FRESH_S)
    polls = int(polled["polls_ok"].fillna(0).sum() + polled["polls_failed"].fillna(0).sum())
    return MonitorStatus(running, at, str(last["last_status"]), str(last["url"]),
                         str(last["last_message"] or ""), polls, live_problems(polled))


def live_problems(live_rows: pd.DataFrame) -> tuple[str, ...]:
    """``race_id: problem`` of each race followed live whose feed is not understood
    (``live_state.problem``, e.g. "layout not understood: missing params.elapsedTime"),
    active races only."""
    if live_rows.empty or "problem" not in live_rows:
        return ()
    active = live_rows["active"].fillna(True).astype(bool) if "active" in live_rows \
        else pd.Series(True, index=live_rows.index)
    rows = live_rows[live_rows["problem"].notna() & active]
    return tuple(f"{r}: {p}" for r, p in zip(rows["race_id"], rows["problem"], strict=True)
                 if isinstance(p, str) and p)


# -- data page -------------------------------------------------------------------------------
_GENERIC_LAP_FILE = re.compile(
    r"^(laps|\d+_?(analysis|time ?cards).*|analysis.*|time ?cards.*)$", re.I)


def suggested_event(file_name: str) -> str | None:
    """An event name from an uploaded file's name, or None when the name says nothing
    (``laps.csv``, ``23_Analysis_Race_Hour 24.CSV``)."""
    stem = Path(file_name).stem.strip()
    return None if not stem or _GENERIC_LAP_FILE.match(stem) else stem


@dataclass
class FileOutcome:
    """The result of importing one file on the Data page."""

    file: str
    ok: bool
    race_id: str = ""
    laps: int = 0
    cars: int = 0
    classes: str = ""
    message: str = ""


def import_files(store: RaceStore, items: list[tuple[str, bytes | None]], *,
                 series: str | None = None, event: str | None = None,
                 year: int | None = None,
                 progress: Callable[[float, str], None] | None = None) -> list[FileOutcome]:
    """Import uploaded files (name, bytes) or files on disk (path, None), one by one.

    A bad file does not stop the others; each gets its own outcome.

    Args:
        items: uploads as (file name, content); files on disk as (path, None).
        series, event, year: override what the classes / file name say.
        progress: called with (fraction done, text) before each file and at the end.
    """
    from race.importer import import_lap_file

    outcomes: list[FileOutcome] = []
    for i, (name, data) in enumerate(items):
        if progress:
            progress(i / max(1, len(items)), f"importing {Path(name).name} ({i + 1}/{len(items)})")
        try:
            if data is not None:
                name_event = event or suggested_event(name)
                if not name_event:
                    raise RaceDataError(
                        f"{Path(name).name}: the file name does not say which event this is; "
                        "type the event name (and year) above and import again")
                result = import_lap_file(store, Path(name).name, series=series,
                                         event=name_event, year=year, data=data)
            else:
                result = import_lap_file(store, name, series=series, event=event, year=year)
        except RaceDataError as exc:
            outcomes.append(FileOutcome(Path(name).name, False, message=str(exc)))
            continue
        message = "already imported (unchanged)" if result.unchanged else (
            f"imported in {result.seconds:.1f} s")
        if result.warnings:
            message += "; " + "; ".join(result.warnings)
        outcomes.append(FileOutcome(Path(name).name, True, result.race_id, result.laps,
                                    result.cars, ", ".join(result.classes), message))
    if progress:
        progress(1.0, f"{sum(o.ok for o in outcomes)} of {len(items)} file(s) imported")
    return outcomes


def lap_files_in_folder(folder: str) -> list[Path]:
    """Lap files in a folder (recursively), as the command line finds them."""
    from race.cli import lap_files_in

    path = Path(folder).expanduser()
    if not path.is_dir():
        raise NotFoundError(f"{folder}: no such folder on the server")
    return lap_files_in([str(path)])


def export_bytes(store: RaceStore, race_id: str, table: str, fmt: str) -> bytes:
    """One race table as CSV or Parquet bytes (the same rows as ``python -m race export``)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"export.{fmt}"
        store.export(race_id, table, fmt, out)
        return out.read_bytes()


RACES_TABLE_COLUMNS = ["Race", "Series", "Season", "Session", "Laps", "Cars", "Classes",
                       "Flags", "Imported", "Race ID"]


def races_table(races: pd.DataFrame) -> pd.DataFrame:
    """The Data page's race list: words for headers, the event as people call it.

    ``Flags`` says whether the lap file carries the track state (else it is inferred from lap
    times); ``Race ID`` is what the command line takes (``--race``).
    """
    if races.empty:
        return pd.DataFrame(columns=RACES_TABLE_COLUMNS)
    r = races.reset_index(drop=True)
    duration = r["duration_s"] if "duration_s" in r else pd.Series(None, index=r.index)
    return pd.DataFrame({
        "Race": [event_title(e, t, d) for e, t, d in
                 zip(r["event"], r["track"], duration, strict=True)],
        "Series": r["series"], "Season": r["season"].astype("Int64"),
        "Session": r["session"].fillna("Race"), "Laps": r["laps"].astype("Int64"),
        "Cars": r["cars"].astype("Int64"),
        "Classes": r["classes"].fillna("").str.replace(",", ", "),
        "Flags": np.where(r["has_flags"].fillna(False).astype(bool), "from the file",
                          "inferred"),
        "Imported": r["imported_at"], "Race ID": r["race_id"],
    }, columns=RACES_TABLE_COLUMNS)


def race_names(races: pd.DataFrame) -> dict[str, str]:
    """``{race_id: "IMSA 2024 · Sebring 12 Hours · Race"}`` for race pickers."""
    return {str(row["race_id"]): race_title(row) for row in races.to_dict("records")}


INGEST_LOG_LABELS = {"ingest_id": "#", "started_at": "Started", "finished_at": "Finished",
                     "kind": "Kind", "source": "Source", "race_id": "Race ID",
                     "status": "Result", "rows": "Rows", "message": "Message"}


def ingest_log_rows(log: pd.DataFrame) -> pd.DataFrame:
    """The ingest log with words for headers and the file name instead of its whole path."""
    cols = list(INGEST_LOG_LABELS.values())
    if log.empty:
        return pd.DataFrame(columns=cols)
    frame = log.rename(columns=INGEST_LOG_LABELS)[cols].reset_index(drop=True)
    frame["Source"] = [_short_source(v) for v in frame["Source"]]
    return frame


def _short_source(value: object) -> object:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return value
    text = str(value)
    if "://" in text:
        return text
    parts = Path(text).parts
    return "/".join(parts[-3:]) if len(parts) > 3 else text


LIVE_STATE_LABELS = {"race_id": "Race ID", "source": "Feed", "active": "Following",
                     "last_poll_at": "Last poll", "last_status": "Result",
                     "last_message": "Message", "polls_ok": "Polls ok",
                     "polls_failed": "Polls failed", "clock_s": "Race clock (s)",
                     "flag": "Flag"}


def live_state_rows(live: pd.DataFrame) -> pd.DataFrame:
    """Races followed live, with words for headers."""
    cols = [c for c in LIVE_STATE_LABELS if c in live.columns]
    return live[cols].rename(columns=LIVE_STATE_LABELS).reset_index(drop=True)


def table_height_px(rows: int, max_rows: int = 10) -> int:
    """A grid height that shows ``rows`` rows (up to ``max_rows``), no empty space below."""
    return 38 + 35 * max(1, min(rows, max_rows))


def default_index(options: list[str], wanted: str | None) -> int:
    """Index of ``wanted`` in ``options`` (the selected race), else 0."""
    return options.index(wanted) if wanted in options else 0


def delete_race(store: RaceStore, race_id: str) -> None:
    """Delete a race (the store records it in the ingest log: cached views see a new
    version)."""
    store.delete_race(race_id, message="deleted from the Data page")


def outcomes_table(outcomes: list[FileOutcome]) -> pd.DataFrame:
    """Per-file import results as a table."""
    return pd.DataFrame([{"File": o.file, "Result": "ok" if o.ok else "error",
                          "Race ID": o.race_id or "—", "Laps": o.laps, "Cars": o.cars,
                          "Classes": o.classes or "—", "Message": o.message or "—"}
                         for o in outcomes],
                        columns=["File", "Result", "Race ID", "Laps", "Cars", "Classes",
                                 "Message"])
