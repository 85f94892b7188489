"""Every stored table's columns and DuckDB types, declared once.

Parsers cast to these declarations, ``store`` builds its DDL from them and tests check frames
against them. Units are in the names: ``_s`` seconds, ``_kph`` km/h, ``_f`` °F.
Flag codes (``flag``): GF green, FCY full-course yellow, SF safety car, RF red, FF chequered;
NULL when the source file has no flag column (WEC ≤ 2019).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

FLAG_CODES = ("GF", "FCY", "SF", "RF", "FF")
GREEN_FLAGS = ("GF", "FF")
SERIES = ("WEC", "IMSA")
# The range of DuckDB's integer types: a value outside cannot be stored.
INT_RANGES = {"TINYINT": (-(2**7), 2**7 - 1), "SMALLINT": (-(2**15), 2**15 - 1),
              "INTEGER": (-(2**31), 2**31 - 1), "BIGINT": (-(2**63), 2**63 - 1)}
# What pandas (and so every frame the store is given) can hold in a TIMESTAMP.
TIMESTAMP_RANGE = ("1678-01-01", "2261-12-31")


@dataclass(frozen=True)
class Table:
    """A stored table: ordered (column, DuckDB type) pairs and its primary key columns."""

    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        return [c for c, _ in self.columns]

    def ddl(self) -> str:
        cols = ", ".join(f'"{c}" {t}' for c, t in self.columns)
        pk = f", PRIMARY KEY ({', '.join(self.key)})" if self.key else ""
        return f"CREATE TABLE IF NOT EXISTS {self.name} ({cols}{pk})"


RACES = Table("races", (
    ("race_id", "VARCHAR"), ("series", "VARCHAR"), ("season", "INTEGER"), ("event", "VARCHAR"),
    ("session", "VARCHAR"), ("track", "VARCHAR"), ("start_date", "DATE"),
    ("start_time_of_day_s", "DOUBLE"), ("duration_s", "DOUBLE"), ("source", "VARCHAR"),
    ("source_path", "VARCHAR"), ("source_sha256", "VARCHAR"), ("has_flags", "BOOLEAN"),
    ("laps", "INTEGER"), ("cars", "INTEGER"), ("classes", "VARCHAR"),
    ("imported_at", "TIMESTAMP"),
), ("race_id",))

CARS = Table("cars", (
    ("race_id", "VARCHAR"), ("number", "VARCHAR"), ("class", "VARCHAR"), ("team", "VARCHAR"),
    ("manufacturer", "VARCHAR"), ("vehicle", "VARCHAR"), ("group_code", "VARCHAR"),
    ("laps", "INTEGER"), ("pit_lane_start", "BOOLEAN"),
), ("race_id", "number"))

DRIVERS = Table("drivers", (
    ("race_id", "VARCHAR"), ("number", "VARCHAR"), ("driver_number", "INTEGER"),
    ("driver_name", "VARCHAR"), ("licence", "VARCHAR"), ("country", "VARCHAR"),
), ("race_id", "number", "driver_number"))

# Source columns of the lap file (variants A/B/C, DATA.md §1), then derived columns.
LAP_SOURCE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    # (source header, stored column, DuckDB type)
    ("NUMBER", "number", "VARCHAR"),
    ("DRIVER_NUMBER", "driver_number", "INTEGER"),
    ("LAP_NUMBER", "lap_number", "INTEGER"),
    ("LAP_TIME", "lap_time_s", "DOUBLE"),
    ("LAP_IMPROVEMENT", "lap_improvement", "SMALLINT"),
    ("CROSSING_FINISH_LINE_IN_PIT", "crossing_in_pit", "BOOLEAN"),
    ("S1", "s1_s", "DOUBLE"),
    ("S1_IMPROVEMENT", "s1_improvement", "SMALLINT"),
    ("S2", "s2_s", "DOUBLE"),
    ("S2_IMPROVEMENT", "s2_improvement", "SMALLINT"),
    ("S3", "s3_s", "DOUBLE"),
    ("S3_IMPROVEMENT", "s3_improvement", "SMALLINT"),
    ("KPH", "speed_kph", "DOUBLE"),
    ("ELAPSED", "elapsed_s", "DOUBLE"),
    ("HOUR", "hour_of_day_s", "DOUBLE"),
    ("S1_LARGE", "s1_large_s", "DOUBLE"),
    ("S2_LARGE", "s2_large_s", "DOUBLE"),
    ("S3_LARGE", "s3_large_s", "DOUBLE"),
    ("TOP_SPEED", "top_speed_kph", "DOUBLE"),
    ("DRIVER_NAME", "driver_name", "VARCHAR"),
    ("PIT_TIME", "pit_time_s", "DOUBLE"),
    ("CLASS", "class", "VARCHAR"),
    ("GROUP", "group_code", "VARCHAR"),
    ("TEAM", "team", "VARCHAR"),
    ("MANUFACTURER", "manufacturer", "VARCHAR"),
    ("FLAG_AT_FL", "flag", "VARCHAR"),
    ("S1_SECONDS", "s1_seconds_s", "DOUBLE"),
    ("S2_SECONDS", "s2_seconds_s", "DOUBLE"),
    ("S3_SECONDS", "s3_seconds_s", "DOUBLE"),
)
REQUIRED_LAP_HEADERS = tuple(h for h, _, _ in LAP_SOURCE_COLUMNS[:25])
# The values real lap files hold (54 files, 300,000 laps: DRIVER_NUMBER 1-3, LAP_NUMBER up
# to 443, improvement codes 0-3, KPH 0.8-249, TOP_SPEED 46-350): a value outside these
# bounds is a corrupt field, rejected with its line and column (all within DuckDB's ranges).
LAP_VALUE_RANGES: dict[str, tuple[float, float, str]] = {
    "driver_number": (1, 9, "the driver's index within the car's entry"),
    "lap_number": (1, 9_999, "a lap number"),
    "lap_improvement": (0, 3, "an improvement code"),
    "s1_improvement": (0, 3, "an improvement code"),
    "s2_improvement": (0, 3, "an improvement code"),
    "s3_improvement": (0, 3, "an improvement code"),
    "speed_kph": (0, 999, "a speed in km/h"),
    "top_speed_kph": (0, 999, "a speed in km/h"),
}
# HOUR is a time of day; every other time is below timefmt.MAX_TIME_MS.
TIME_OF_DAY_COLUMNS = ("hour_of_day_s",)
# The longest text field a timing file holds (real: 43 characters): a longer one is corrupt.
MAX_TEXT_CHARS = 200
OPTIONAL_LAP_HEADERS = tuple(h for h, _, _ in LAP_SOURCE_COLUMNS[25:])
TIME_COLUMNS = tuple(c for h, c, t in LAP_SOURCE_COLUMNS
                     if t == "DOUBLE" and c.endswith("_s"))

LAP_DERIVED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("start_s", "DOUBLE"),          # ELAPSED - LAP_TIME: race time when the lap began
    ("in_lap", "BOOLEAN"),          # crossed the line in the pit lane (B)
    ("out_lap", "BOOLEAN"),         # carries PIT_TIME, or follows an in-lap
    ("stint_number", "INTEGER"),    # 1 + PIT_TIME rows so far (a pit-lane start is not a stop)
    ("lap_in_stint", "INTEGER"),
    ("neutralised", "BOOLEAN"),     # [start_s, elapsed_s] overlaps a rebuilt flag period
    ("restart_lap", "BOOLEAN"),     # starts within one median lap after a period ends
    ("clean", "BOOLEAN"),           # ML.md §1 definition
)

LAPS = Table("laps", (("race_id", "VARCHAR"), *((c, t) for _, c, t in LAP_SOURCE_COLUMNS),
                      *LAP_DERIVED_COLUMNS), ("race_id", "number", "lap_number"))

PIT_STOPS = Table("pit_stops", (
    ("race_id", "VARCHAR"), ("number", "VARCHAR"), ("stop_number", "INTEGER"),
    ("in_lap", "INTEGER"), ("out_lap", "INTEGER"), ("pit_in_elapsed_s", "DOUBLE"),
    ("pit_time_s", "DOUBLE"), ("driver_in", "VARCHAR"), ("driver_out", "VARCHAR"),
    ("driver_change", "BOOLEAN"), ("neutralised", "BOOLEAN"), ("class", "VARCHAR"),
), ("race_id", "number", "stop_number"))

STINTS = Table("stints", (
    ("race_id", "VARCHAR"), ("number", "VARCHAR"), ("stint_number", "INTEGER"),
    ("class", "VARCHAR"), ("driver_number", "INTEGER"), ("driver_name", "VARCHAR"),
    ("first_lap", "INTEGER"), ("last_lap", "INTEGER"), ("start_s", "DOUBLE"),
    ("end_s", "DOUBLE"), ("laps", "INTEGER"), ("clean_laps", "INTEGER"),
    ("neutralised_laps", "INTEGER"), ("best_clean_lap_s", "DOUBLE"),
    ("mean_clean_lap_s", "DOUBLE"), ("drive_time_s", "DOUBLE"), ("ended_in_pit", "BOOLEAN"),
), ("race_id", "number", "stint_number"))

FLAG_PERIODS = Table("flag_periods", (
    ("race_id", "VARCHAR"), ("period_number", "INTEGER"), ("flag", "VARCHAR"),
    ("start_s", "DOUBLE"), ("end_s", "DOUBLE"), ("inferred", "BOOLEAN"),
), ("race_id", "period_number"))

CLASSIFICATION = Table("classification", (
    ("race_id", "VARCHAR"), ("number", "VARCHAR"), ("position", "INTEGER"),
    ("class_position", "INTEGER"), ("status", "VARCHAR"), ("laps", "INTEGER"),
    ("total_time_s", "DOUBLE"), ("gap_first", "VARCHAR"), ("gap_previous", "VARCHAR"),
    ("fastest_lap_number", "INTEGER"), ("fastest_lap_s", "DOUBLE"), ("team", "VARCHAR"),
    ("class", "VARCHAR"), ("vehicle", "VARCHAR"), ("tyres", "VARCHAR"),
), ("race_id", "number"))

# Weather readings: the IMSA weather file (about one a minute) and the WEC live feed (one
# per poll, converted from °C/hPa/km/h); ``elapsed_s`` is the race time of the reading
# when the source states it (live feeds), NULL for the files (race.present.weather maps
# them onto race time). ``rain``: the source says it rains (True) or not (False); NULL when
# it does not say (IMSA files write RAIN -1; the WEC feed's ``weather`` text, when given).
WEATHER = Table("weather", (
    ("race_id", "VARCHAR"), ("time_utc", "TIMESTAMP"), ("air_temp_f", "DOUBLE"),
    ("track_temp_f", "DOUBLE"), ("humidity_pct", "DOUBLE"), ("pressure_inhg", "DOUBLE"),
    ("wind_speed_mph", "DOUBLE"), ("wind_direction_deg", "DOUBLE"), ("elapsed_s", "DOUBLE"),
    ("rain", "BOOLEAN"),
), ("race_id", "time_utc"))

INGEST_LOG = Table("ingest_log", (
    ("ingest_id", "BIGINT"), ("started_at", "TIMESTAMP"), ("finished_at", "TIMESTAMP"),
    ("kind", "VARCHAR"), ("source", "VARCHAR"), ("race_id", "VARCHAR"), ("status", "VARCHAR"),
    ("rows", "INTEGER"), ("message", "VARCHAR"),
), ("ingest_id",))

# A race followed on a live feed: where it is polled, how the polls went, and the lap
# tracker's state (JSON) so ingestion resumes exactly after a restart. ``revision`` grows
# with every write; a writer holding an older revision reloads first (race.live.session).
# ``problem``: "layout not understood: …" while the feed's payloads are not understood
# (a needed field missing, or payloads changing while nothing new is stored), else NULL.
LIVE_STATE = Table("live_state", (
    ("race_id", "VARCHAR"), ("source", "VARCHAR"), ("url", "VARCHAR"), ("flag_url", "VARCHAR"),
    ("revision", "BIGINT"), ("active", "BOOLEAN"), ("polls_ok", "INTEGER"),
    ("polls_failed", "INTEGER"), ("last_poll_at", "TIMESTAMP"), ("last_status", "VARCHAR"),
    ("last_message", "VARCHAR"), ("clock_s", "DOUBLE"), ("flag", "VARCHAR"),
    ("tracker", "VARCHAR"), ("updated_at", "TIMESTAMP"), ("problem", "VARCHAR"),
), ("race_id",))

# Live laps waiting for the official file: reason lap_time_unknown (the car gained 2+ laps
# between polls), elapsed_estimated, pit_time_estimated (measured between polls),
# pit_stop_unseen. Cleared when the official file backfills the lap.
LIVE_BACKFILL = Table("live_backfill", (
    ("race_id", "VARCHAR"), ("number", "VARCHAR"), ("lap_number", "INTEGER"),
    ("reason", "VARCHAR"), ("created_at", "TIMESTAMP"),
), ("race_id", "number", "lap_number", "reason"))

# Next-lap predictions (race.models.predict): lap_number is the predicted lap, made at the end of
# the car's previous lap (made_at_s, race time); actual_s NULL until the lap is done.
PREDICTIONS = Table("predictions", (
    ("race_id", "VARCHAR"), ("number", "VARCHAR"), ("lap_number", "INTEGER"),
    ("class", "VARCHAR"), ("made_at_s", "DOUBLE"), ("predicted_s", "DOUBLE"),
    ("lower80_s", "DOUBLE"), ("upper80_s", "DOUBLE"), ("ewma_s", "DOUBLE"),
    ("next5_s", "DOUBLE"), ("actual_s", "DOUBLE"), ("s_clean", "BOOLEAN"),
    ("model_used", "BOOLEAN"), ("model", "VARCHAR"), ("updated_at", "TIMESTAMP"),
), ("race_id", "number", "lap_number"))

# Incident alerts (race.models.anomalies): kind slow lap, spin/off, damage run, slow stop, or the
# label neutralised; elapsed_s = race time the alert became known (end of the lap).
ALERTS = Table("alerts", (
    ("race_id", "VARCHAR"), ("number", "VARCHAR"), ("lap_number", "INTEGER"),
    ("kind", "VARCHAR"), ("class", "VARCHAR"), ("elapsed_s", "DOUBLE"), ("score", "DOUBLE"),
    ("reason", "VARCHAR"), ("iso_score", "DOUBLE"), ("updated_at", "TIMESTAMP"),
), ("race_id", "number", "lap_number", "kind"))

# The race feed (race.analysis.events): kind pit_in, pit_out, driver_change, class_lead,
# class_fastest_lap, flag (a start and an end per flag period), retired; t_s = race time the
# event happened or became known; lap NULL for flags. Alert events are read from ``alerts``.
# No primary key: the live path deletes by kind and class / car / time (race.live.race).
EVENTS = Table("events", (
    ("race_id", "VARCHAR"), ("t_s", "DOUBLE"), ("kind", "VARCHAR"), ("number", "VARCHAR"),
    ("class", "VARCHAR"), ("lap", "INTEGER"), ("text", "VARCHAR"),
), ())

# Tables whose rows belong to one race and are replaced as a whole by an import.
RACE_TABLES = (RACES, CARS, DRIVERS, LAPS, PIT_STOPS, STINTS, FLAG_PERIODS, CLASSIFICATION,
               WEATHER, LIVE_STATE, LIVE_BACKFILL, PREDICTIONS, ALERTS, EVENTS)
ALL_TABLES = (*RACE_TABLES, INGEST_LOG)


def frame_problem(table: Table, frame: pd.DataFrame | None) -> str | None:
    """What in ``frame`` the store would refuse for ``table``, or None.

    Checks what DuckDB checks at insert time, so that a refusal can be reported (or a
    table skipped) before the transaction: whole numbers within their integer type's range,
    timestamps within range, and no two rows with the same key.
    """
    import numpy as np
    import pandas as pd

    if frame is None or len(frame) == 0:
        return None
    for column, dtype in table.columns:
        if column not in frame.columns:
            continue
        values = frame[column]
        if dtype in INT_RANGES:
            numbers = pd.to_numeric(values, errors="coerce").astype(float)
            present = numbers.notna() & values.notna()
            low, high = INT_RANGES[dtype]
            bad = present & ~(numbers.between(low, high) & (numbers == np.floor(numbers)))
            if bad.any():
                return (f"{table.name}.{column}: {values[bad].iloc[0]!r} is not a whole number "
                        f"from {low} to {high}")
        elif dtype in ("TIMESTAMP", "DATE"):
            stamps = pd.to_datetime(values, errors="coerce")
            low, high = (pd.Timestamp(t) for t in TIMESTAMP_RANGE)
            bad = values.notna() & ~stamps.between(low, high)
            if bad.any():
                return f"{table.name}.{column}: {values[bad].iloc[0]!r} is not a date"
    key = [c for c in table.key if c in frame.columns and c != "race_id"]
    if key and len(key) == len(table.key) - ("race_id" in table.key):
        dup = frame.duplicated(key)
        if dup.any():
            row = frame.loc[dup, key].iloc[0]
            return (f"{table.name}: two rows for "
                    + ", ".join(f"{c} {row[c]!r}" for c in key))
    return None
