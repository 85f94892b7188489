"""A synthetic but realistic race, written as an official lap file (DATA.md §1).

``generate_sample_race`` returns the bytes of a WEC "Analysis" file (variant B: ``;``,
29 columns with FLAG_AT_FL and S*_SECONDS, trailing separator, UTF-8 BOM, CRLF) or an IMSA
"Time Cards" file (variant C: ``,``, quoted where needed, BOM, LF), so the sample goes
through the same parser and importer as real files. Deterministic for a given seed.

What it simulates (``race.synthetic``): 3–4 classes with realistic pace gaps, 20–60 cars with
2–3 drivers of different licence levels, fuel/energy stints ending in pit stops, driver
changes only at stops, tyre fade, multi-class traffic, FCY and safety-car periods seen by
every car at the line, incidents (spins, a long repair, retirements), darkness in long races,
and the chequered flag shown to the leader first when the time is up.
"""

from __future__ import annotations

import csv
import io
import logging
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from race.errors import ValidationError
from race.settings import PROJECT_ROOT
from race.synthetic.entries import Entry, SeriesSpec, build_entries, series_spec
from race.synthetic.incidents import plan_incidents
from race.synthetic.simulate import RaceSimulation

log = logging.getLogger(__name__)

SAMPLES_DIR = PROJECT_ROOT / "data" / "samples"
SAMPLE_YEAR = 2025
MAX_HOURS = 30.0
SERIES_CHOICES = ("WEC", "IMSA")

Progress = Callable[[float, str], None]

_HEADER = ["NUMBER", " DRIVER_NUMBER", " LAP_NUMBER", " LAP_TIME", " LAP_IMPROVEMENT",
           " CROSSING_FINISH_LINE_IN_PIT", " S1", " S1_IMPROVEMENT", " S2", " S2_IMPROVEMENT",
           " S3", " S3_IMPROVEMENT", " KPH", " ELAPSED", " HOUR", "S1_LARGE", "S2_LARGE",
           "S3_LARGE", "TOP_SPEED", "DRIVER_NAME", "PIT_TIME", "CLASS", "GROUP", "TEAM",
           "MANUFACTURER", "FLAG_AT_FL"]
_WEC_EXTRA = ["S1_SECONDS", "S2_SECONDS", "S3_SECONDS"]


def check_sample_args(hours: float, seed: int, series: str) -> str:
    """Validate the sample parameters; return the series in upper case.

    Raises:
        ValidationError: hours outside (0, 30], a negative seed or an unknown series.
    """
    if not isinstance(hours, int | float) or not np.isfinite(hours) or not (
            0 < hours <= MAX_HOURS):
        raise ValidationError(f"hours must be > 0 and ≤ {MAX_HOURS:g}, not {hours}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValidationError(f"seed must be a whole number ≥ 0, not {seed!r}")
    upper = str(series).upper()
    if upper not in SERIES_CHOICES:
        raise ValidationError(f"series must be WEC or IMSA, not {series!r}")
    return upper


def simulate_sample_laps(hours: float = 6.0, seed: int = 1,
                         series: str = "WEC") -> tuple[pd.DataFrame, SeriesSpec, list[Entry]]:
    """Run the simulation; laps as integer-millisecond crossing times (see ``RaceSimulation``)."""
    series = check_sample_args(hours, seed, series)
    rng = random.Random(f"pit-wall-sample/{series}/{float(hours)!r}/{int(seed)}")
    spec = series_spec(series, hours)
    entries = build_entries(spec, rng, hours)
    duration_s = hours * 3600.0
    periods, incidents = plan_incidents(spec, entries, duration_s, rng)
    laps = RaceSimulation(spec, entries, periods, incidents, duration_s, rng).run()
    return laps, spec, entries


# -- formatting ----------------------------------------------------------------------------
def _clock(ms: int) -> str:
    """``M:SS.mmm`` below an hour, ``H:MM:SS.mmm`` above (LAP_TIME, ELAPSED, S*_LARGE)."""
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, f = divmod(rest, 1000)
    return f"{h}:{m:02d}:{s:02d}.{f:03d}" if h else f"{m}:{s:02d}.{f:03d}"


def _sector(ms: int) -> str:
    """``SS.mmm`` below a minute, else as ``_clock`` (S1, S2, S3)."""
    return f"{ms // 1000}.{ms % 1000:03d}" if ms < 60_000 else _clock(ms)


def _hour(ms: int) -> str:
    """Time of day ``HH:MM:SS.mmm`` (HOUR)."""
    h, rest = divmod(ms % 86_400_000, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, f = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{f:03d}"


def _pit(ms: int) -> str:
    """``H:MM:SS.mmm`` (PIT_TIME)."""
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, f = divmod(rest, 1000)
    return f"{h}:{m:02d}:{s:02d}.{f:03d}"


def _best_markers(values: np.ndarray, groups: list[np.ndarray], counts: np.ndarray,
                  marks: tuple[int, ...]) -> np.ndarray:
    """Improvement markers: the first row holding the minimum of each grouping gets its mark.

    ``groups`` go from finest (e.g. driver) to coarsest (the session); a coarser mark
    overrides a finer one. Rows where ``counts`` is False (lap 1) never count.
    """
    out = np.zeros(len(values), dtype=np.int64)
    frame = pd.DataFrame({"v": np.where(counts, values, np.iinfo(np.int64).max)})
    for key, mark in zip(groups, marks, strict=True):
        frame["k"] = key
        best = frame.groupby("k", sort=False)["v"].idxmin()
        rows = best.to_numpy()
        rows = rows[counts[rows]]
        out[rows] = mark
    return out


def laps_to_lap_file(laps: pd.DataFrame, spec: SeriesSpec, entries: list[Entry]) -> bytes:
    """Write simulated laps as an official lap file (WEC variant B or IMSA variant C)."""
    car = laps["car"].to_numpy()
    lap_no = laps["lap_number"].to_numpy()
    start = laps["start_ms"].to_numpy(dtype=np.int64)
    s1_end = laps["s1_end_ms"].to_numpy(dtype=np.int64)
    s2_end = laps["s2_end_ms"].to_numpy(dtype=np.int64)
    end = laps["end_ms"].to_numpy(dtype=np.int64)
    lap_ms, s1, s2, s3 = end - start, s1_end - start, s2_end - s1_end, end - s2_end
    if (np.minimum.reduce([s1, s2, s3]) <= 0).any():
        raise ValidationError("simulation produced an empty sector (generator bug)")
    driver_no = laps["driver_number"].to_numpy()
    counts = lap_no > 1
    session = np.zeros(len(laps), dtype=np.int64)
    driver_key = car * 10 + driver_no
    lap_mark = _best_markers(lap_ms, [car, session], counts, (2, 3))
    sector_marks = [_best_markers(s, [driver_key, car, session], counts, (1, 2, 3))
                    for s in (s1, s2, s3)]
    kph = spec.track.length_km * 3_600_000 / lap_ms
    hour0 = round(spec.track.start_time_of_day_s * 1000)
    wec = spec.name == "WEC"
    header = _HEADER + (_WEC_EXTRA if wec else []) + [""]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";" if wec else ",",
                        lineterminator="\r\n" if wec else "\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    pit = laps["pit_ms"].to_numpy()
    in_pit = laps["in_pit"].to_numpy(dtype=bool)
    flag = laps["flag"].to_numpy()
    top = laps["top_speed"].to_numpy()
    for r in range(len(laps)):
        e = entries[car[r]]
        d = e.drivers[driver_no[r] - 1]
        row = [e.number, str(driver_no[r]), str(lap_no[r]), _clock(int(lap_ms[r])),
               str(lap_mark[r]), "B" if in_pit[r] else "",
               _sector(int(s1[r])), str(sector_marks[0][r]),
               _sector(int(s2[r])), str(sector_marks[1][r]),
               _sector(int(s3[r])), str(sector_marks[2][r]),
               f"{kph[r]:.1f}", _clock(int(end[r])), _hour(hour0 + int(end[r])),
               _clock(int(s1[r])), _clock(int(s2[r])), _clock(int(s3[r])),
               "" if top[r] is None or not np.isfinite(top[r]) else f"{top[r]:.1f}",
               d.name, "" if pd.isna(pit[r]) else _pit(int(pit[r])),
               e.cls.name, e.group, e.team, e.make, flag[r]]
        if wec:
            row += [f"{v // 1000}.{v % 1000:03d}" for v in (int(s1[r]), int(s2[r]),
                                                            int(s3[r]))]
        row.append("")
        writer.writerow(row)
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


# -- public API ----------------------------------------------------------------------------
def generate_sample_race(hours: float = 6.0, seed: int = 1, series: str = "WEC") -> bytes:
    """A synthetic race as the bytes of an official lap file.

    Args:
        hours: race length (h), > 0 and ≤ 30; 20 h and more run on a Le Mans-like track.
        seed: random seed; the same (hours, seed, series) gives identical bytes.
        series: "WEC" (variant B, ``;``) or "IMSA" (variant C, ``,``).

    Raises:
        ValidationError: bad arguments.
    """
    laps, spec, entries = simulate_sample_laps(hours, seed, series)
    return laps_to_lap_file(laps, spec, entries)


def sample_event(hours: float, seed: int) -> str:
    """The event name of a sample: ``sample-6h-seed1`` (``sample-90min-seed1`` for 1.5 h)."""
    length = f"{hours:g}h" if float(hours).is_integer() else f"{round(hours * 60)}min"
    return f"sample-{length}-seed{seed}"


def write_sample_race(path: str | Path, hours: float = 6.0, seed: int = 1,
                      series: str = "WEC") -> Path:
    """Generate a sample race and write it to ``path`` (folders created); return the path."""
    data = generate_sample_race(hours, seed, series)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def load_sample_race(store, hours: float = 6.0, seed: int = 1, series: str = "WEC",
                     progress: Progress | None = None, *, folder: str | Path | None = None):
    """Generate a sample race, write it under ``data/samples/`` and import it into ``store``.

    Args:
        store: an open ``race.store.RaceStore``.
        hours, seed, series: as ``generate_sample_race``.
        progress: called as ``progress(fraction 0–1, text)`` at each step (the app's
            sidebar button shows it).
        folder: where to write the file (default ``data/samples`` in the project).

    Returns:
        the importer's ``ImportResult`` (``race_id`` names the new race). Loading the same
        sample twice leaves the database unchanged.
    """
    from race.importer import import_lap_file

    def say(fraction: float, text: str) -> None:
        log.info("sample: %s", text)
        if progress is not None:
            progress(fraction, text)

    series = check_sample_args(hours, seed, series)
    event = sample_event(hours, seed)
    say(0.05, f"Simulating a {hours:g} h {series} race (seed {seed})…")
    data = generate_sample_race(hours, seed, series)
    say(0.6, "Writing the lap file…")
    path = Path(folder) if folder is not None else SAMPLES_DIR
    path.mkdir(parents=True, exist_ok=True)
    target = path / f"{series.lower()}-{event}.csv"
    target.write_bytes(data)
    say(0.7, "Importing into the database…")
    result = import_lap_file(store, target, series=series, event=event, year=SAMPLE_YEAR,
                             data=data)
    say(1.0, f"Loaded {result.race_id}: {result.laps} laps, {result.cars} cars")
    return result
