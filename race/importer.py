"""Import official timing files: read → parse → derive → validate → store, one transaction.

An import is idempotent: a file whose content was already imported for the same race leaves
every table as it was. A bad file raises before anything is written; the failure is recorded
in the ingest log only.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from race.analysis import stints as stint_tables
from race.analysis.events import race_events
from race.analysis.laps import derive_laps
from race.errors import ParseError, RaceDataError, ValidationError, one_line
from race.schema import CLASSIFICATION, DRIVERS, RACE_TABLES, WEATHER, frame_problem
from race.sources.lapfile import parse_lap_file
from race.sources.results import parse_results_file, parse_weather_file
from race.store import RaceStore

log = logging.getLogger(__name__)

WEC_CLASSES = {"HYPERCAR", "LMP1", "LMGTE PRO", "LMGTE AM", "LMGT3", "LMGTE"}
IMSA_CLASSES = {"DPI", "GTP", "GTD", "GTDPRO", "GTD PRO", "GTLM", "LMP3"}
# Hour-by-hour publication folders, session folders and generic file names say nothing of
# the event: skip them when naming a race from its path.
_GENERIC_DIR = re.compile(r"^(hour\s*\d+|\d{12}_.*|\d{2,4}_?\d{0,4}|results|laps|data|tmp)$",
                          re.I)
_GENERIC_STEM = re.compile(r"^(laps|\d+_(analysis|time ?cards).*|analysis.*|time ?cards.*)$",
                           re.I)
# "<session>-laps.csv" beside "<session>-results.csv" and "<session>-weather.csv".
_PREFIXED_STEM = re.compile(r"^(.+?)[-_ ]laps$", re.I)
_DURATION = re.compile(r"(\d+)\s*h(?:ours?)?\b", re.I)


@dataclass
class RaceMeta:
    """What the path and the classes say about a race."""

    series: str
    season: int | None
    event: str
    session: str = "Race"

    @property
    def race_id(self) -> str:
        parts = [self.series, str(self.season or "unknown"), self.event, self.session]
        return re.sub(r"[^a-z0-9]+", "-", "-".join(parts).lower()).strip("-")


@dataclass
class ImportResult:
    """The outcome of importing one lap file."""

    race_id: str
    series: str
    event: str
    year: int | None
    laps: int
    cars: int
    classes: list[str]
    unchanged: bool = False
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_json(self) -> dict:
        return {"race_id": self.race_id, "series": self.series, "event": self.event,
                "year": self.year, "laps": self.laps, "cars": self.cars,
                "classes": self.classes}


def detect_series(classes: list[str], path: Path) -> str:
    """WEC or IMSA from the class names (LMP2 runs in both), else from the path."""
    upper = {c.upper() for c in classes}
    if upper & WEC_CLASSES:
        return "WEC"
    if upper & IMSA_CLASSES:
        return "IMSA"
    lowered = [p.lower() for p in path.parts]
    for series in ("wec", "imsa"):
        if any(series in p for p in lowered):
            return series.upper()
    raise ParseError(f"cannot tell the series from classes {sorted(classes)}; "
                     "give --series WEC or --series IMSA", source=str(path))


def meta_from_path(path: Path) -> tuple[str, int | None, str]:
    """(event, year, session) from a lap file's path, e.g. ``imsa/2023/12-watkins-glen/laps.csv``.

    The event is the nearest folder that is not a year, an hour folder or a session folder;
    a file with a telling name (``sebring-12h.csv``) is named by its stem.
    """
    resolved = path.resolve()
    year = None
    for part in reversed(resolved.parts):
        m = re.search(r"(?<!\d)(19[5-9]\d|20\d\d)(?!\d)", part)
        if m:
            year = int(m.group(1))
            break
    session = "Race"
    for part in resolved.parts:
        m = re.match(r"^\d{12}_(.+)$", part)
        if m:
            session = m.group(1).strip()
    prefixed = _PREFIXED_STEM.match(resolved.stem)
    if prefixed:  # "r24h-qualifying-race-laps.csv": the folder names the event
        session = prefixed.group(1)
    elif not _GENERIC_STEM.match(resolved.stem):
        return resolved.stem, year, session
    for part in reversed(resolved.parts[:-1]):
        if not _GENERIC_DIR.match(part) and part.lower() not in ("wec", "imsa", "/"):
            return part, year, session
    return resolved.stem, year, session


def track_from_event(event: str) -> str:
    """A readable name: ``12-watkins-glen-international`` → ``Watkins Glen International``."""
    name = re.sub(r"^\d+[-_ ]+", "", event)
    name = re.sub(r"[-_ ]+(\d+h|\d+km)$", "", name, flags=re.I)
    return re.sub(r"[-_]+", " ", name).strip().title()


def _sibling(path: Path, names: tuple[str, ...]) -> Path | None:
    try:
        candidates = sorted(path.parent.iterdir())
    except OSError:
        return None
    for candidate in candidates:
        lowered = candidate.name.lower()
        if candidate.is_file() and any(lowered == n or re.match(n, lowered) for n in names):
            return candidate
    return None


def build_race_frames(laps: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Derive every stored table of a race from its parsed laps."""
    derived, periods = derive_laps(laps)
    return {
        "laps": derived,
        "flag_periods": periods,
        "pit_stops": stint_tables.pit_stops(derived),
        "stints": stint_tables.stints(derived),
        "cars": stint_tables.cars(derived),
        "drivers": stint_tables.drivers(derived),
        "events": race_events(derived, periods),
    }


def import_lap_file(store: RaceStore, path: str | Path, *, series: str | None = None,
                    event: str | None = None, year: int | None = None,
                    data: bytes | None = None) -> ImportResult:
    """Import one official lap file (and the results/weather files beside it).

    Args:
        store: the database.
        path: the lap file; also names the race (event, year) unless given.
        series, event, year: override what the classes and path say.
        data: the file's bytes when already read (uploads); ``path`` then only names it.

    Raises:
        RaceDataError: unreadable or invalid file; nothing is written but the ingest log.
    """
    started = time.perf_counter()
    started_at = datetime.now(UTC).replace(tzinfo=None)
    path = Path(path)
    try:
        try:
            result = _import(store, path, series, event, year, data)
        except RaceDataError:
            raise
        except Exception as exc:  # a file that trips a fault of ours is still a file error
            log.debug("importing %s failed", path, exc_info=True)
            raise ParseError(f"cannot be imported ({type(exc).__name__}: {exc}); nothing was "
                             "stored", source=str(path)) from exc
    except RaceDataError as exc:
        store.log_ingest(kind="import", source=str(path), status="error", message=str(exc),
                         started_at=started_at)
        raise
    result.seconds = time.perf_counter() - started
    message = "unchanged (same file already imported)" if result.unchanged else "imported"
    if result.warnings:
        message += "; " + "; ".join(result.warnings)
    store.log_ingest(kind="import", source=str(path), status="ok", race_id=result.race_id,
                     rows=result.laps, message=message, started_at=started_at)
    return result


def _read(path: Path) -> bytes:
    try:
        if path.exists() and not path.is_file() and not path.is_dir():
            # A pipe or a device would block or never end: only plain files are read.
            raise ParseError("not a regular file (a pipe or a device?)", source=str(path))
        return path.read_bytes()
    except FileNotFoundError:
        raise ParseError("no such file", source=str(path)) from None
    except IsADirectoryError:
        raise ParseError("is a folder, not a lap file", source=str(path)) from None
    except OSError as exc:
        raise ParseError(f"cannot read: {exc.strerror}", source=str(path)) from None


def _import(store: RaceStore, path: Path, series: str | None, event: str | None,
            year: int | None, data: bytes | None) -> ImportResult:
    on_disk = data is None  # an upload has no folder: no results or weather beside it
    data = _read(path) if data is None else data
    digest = hashlib.sha256(data).hexdigest()
    laps = parse_lap_file(data, str(path))
    classes = sorted(laps["class"].dropna().unique().tolist())
    path_event, path_year, session = meta_from_path(path)
    meta = RaceMeta(series=(series or detect_series(classes, path)).upper(),
                    season=year or path_year, event=event or path_event, session=session)
    race_id = meta.race_id
    result = ImportResult(race_id=race_id, series=meta.series, event=meta.event,
                          year=meta.season, laps=len(laps), cars=laps["number"].nunique(),
                          classes=classes)
    if store.race_source_sha256(race_id) == digest:
        result.unchanged = True
        return result

    frames = build_race_frames(laps)
    for table in RACE_TABLES:
        problem = frame_problem(table, frames.get(table.name))
        if problem:  # the store would refuse it: say so before the transaction
            raise ValidationError(f"cannot store the laps: {problem}", source=str(path))
    if on_disk:
        _add_siblings(path, frames, result)
    derived = frames["laps"]
    chequered = derived.loc[derived["flag"].eq("FF"), "elapsed_s"]
    hour0 = (derived["hour_of_day_s"] - derived["elapsed_s"]) % 86400
    match = _DURATION.search(meta.event)
    duration = (float(match.group(1)) * 3600 if match else
                float(chequered.min()) if len(chequered) else float(derived["elapsed_s"].max()))
    weather = frames.get("weather")
    start_date = (weather["time_utc"].min().date() if weather is not None and len(weather)
                  else None)
    frames["races"] = pd.DataFrame([{
        "series": meta.series, "season": meta.season, "event": meta.event,
        "session": meta.session, "track": track_from_event(meta.event),
        "start_date": start_date, "start_time_of_day_s": float(hour0.median()),
        "duration_s": duration, "source": "official lap file", "source_path": str(path),
        "source_sha256": digest, "has_flags": bool(derived["flag"].notna().any()),
        "laps": len(derived), "cars": result.cars, "classes": ",".join(classes),
        "imported_at": datetime.now(UTC).replace(tzinfo=None),
    }])
    store.replace_race(race_id, frames)
    log.info("imported %s: %d laps, %d cars", race_id, result.laps, result.cars)
    return result


def _add_siblings(path: Path, frames: dict[str, pd.DataFrame], result: ImportResult) -> None:
    """Official results and weather files beside the lap file; a bad one is a warning naming
    it, and nothing of it is stored (the laps are)."""
    prefixed = _PREFIXED_STEM.match(path.stem)
    prefix = re.escape(path.name[: len(prefixed.group(1)) + 1].lower()) if prefixed else ""
    results = _sibling(path, ("results.csv", r"03_results.*\.csv$", prefix + r"results\.csv$"))
    if results is not None:
        try:
            frames.update(_results_frames(results, frames))
        except Exception as exc:  # any fault of this file is a warning
            result.warnings.append(f"results file skipped: {_fault(exc, results)}")
    weather = _sibling(path, ("weather.csv", r"26_weather.*\.csv$", prefix + r"weather\.csv$"))
    if weather is not None:
        try:
            readings = parse_weather_file(_read(weather), str(weather))
            _check(WEATHER, readings, weather)
            frames["weather"] = readings
        except Exception as exc:  # any fault of this file is a warning
            result.warnings.append(f"weather file skipped: {_fault(exc, weather)}")


def _results_frames(results: Path, frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The classification, and the drivers and cars tables with what the results add."""
    classification, licences = parse_results_file(_read(results), str(results))
    _check(CLASSIFICATION, classification, results)
    drivers = frames["drivers"].drop(columns=["licence", "country"]).merge(
        licences[["number", "driver_number", "licence", "country"]],
        on=["number", "driver_number"], how="left")
    _check(DRIVERS, drivers, results)
    cars = frames["cars"].copy()
    cars["vehicle"] = cars["number"].map(classification.set_index("number")["vehicle"])
    return {"classification": classification, "drivers": drivers, "cars": cars}


def _check(table, frame: pd.DataFrame, source: Path) -> None:
    problem = frame_problem(table, frame)
    if problem:
        raise ValidationError(problem, source=str(source))


def _fault(exc: Exception, source: Path) -> str:
    """One line naming the file: the parser's message, else what went wrong reading it."""
    if isinstance(exc, RaceDataError):
        text = str(exc)
        return text if str(source) in text else f"{source}: {text}"
    log.debug("reading %s failed", source, exc_info=True)
    return one_line(f"{source}: not a readable file of this kind ({type(exc).__name__}: {exc})")
