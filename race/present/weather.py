"""Weather of a race on its race-time axis, and the latest reading as a panel (no Streamlit).

Readings come from the ``weather`` table (``race.schema.WEATHER``): the IMSA weather file
("26_Weather", about one a minute, °F, mph) and the WEC live feed (one per poll, with its race
time). A file's readings carry only their UTC time; the lap file's HOUR column is local time
of day, so race time = UTC time − (the race's local start time + the track's UTC offset).
The offset is a whole number of hours (every IMSA track is in such a zone) and is the one
that puts the first reading nearest the start: the official file begins 0-75 s after the
green flag in all 41 real files with readings (2021-2024; tests/test_weather.py). Units
follow the series: °F and mph for IMSA, °C and km/h for WEC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

MPH_TO_KPH = 1.609344
# Readings this long before the start or after the last crossing are not the race's.
MARGIN_S = 15 * 60.0
COMPASS = ("N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W",
           "WNW", "NW", "NNW")


@dataclass(frozen=True)
class Units:
    """How temperatures and speeds are shown."""

    temp: str    # "°F" or "°C"
    speed: str   # "mph" or "km/h"


def units_for(series: object) -> Units:
    """°F and mph for IMSA (its own files' units), °C and km/h otherwise."""
    return Units("°F", "mph") if str(series or "").upper() == "IMSA" else Units("°C", "km/h")


def race_times_s(weather: pd.DataFrame, start_time_of_day_s: float | None) -> np.ndarray:
    """Each reading's race time (s): ``elapsed_s`` where the source gave it, else from its
    UTC time (module docstring); NaN when neither can be known.

    Args:
        weather: rows of the ``weather`` table (``time_utc``, ``elapsed_s``).
        start_time_of_day_s: the race's local start time of day (s after midnight;
            ``races.start_time_of_day_s``), None when unknown (the first reading is then
            taken as the start).
    """
    n = len(weather)
    stated = (weather["elapsed_s"].to_numpy(dtype=float) if "elapsed_s" in weather
              else np.full(n, np.nan))
    missing = np.isnan(stated)
    if not missing.any():
        return stated
    stamps = pd.to_datetime(weather["time_utc"]).to_numpy(dtype="datetime64[ns]")
    known = ~np.isnat(stamps) & missing
    if not known.any():
        return stated
    epoch_s = stamps.astype("datetime64[ns]").astype(np.int64) / 1e9
    first_s = float(epoch_s[known].min())
    lead_s = 0.0  # the first reading's race time
    if start_time_of_day_s is not None and math.isfinite(float(start_time_of_day_s)):
        # first reading's UTC time of day − local start = whole hours of offset + the lead
        diff_s = (first_s % 86400.0 - float(start_time_of_day_s)) % 86400.0
        lead_s = diff_s - round(diff_s / 3600.0) * 3600.0
    out = stated.copy()
    out[known] = epoch_s[known] - first_s + lead_s
    return out


def timeline(weather: pd.DataFrame, race: dict, end_s: float | None = None) -> pd.DataFrame:
    """The race's readings in race-time order, in the series' units.

    Args:
        weather: rows of the ``weather`` table of one race.
        race: the race row (``series``, ``start_time_of_day_s``).
        end_s: the race's last crossing (s): later readings (and earlier than the start)
            beyond ``MARGIN_S`` are dropped; None keeps them all.

    Returns:
        ``t_s, time_utc, air, track, humidity_pct, wind_speed, wind_direction_deg,
        pressure_inhg, rain`` (air/track in ``units_for(series).temp``, wind in its speed
        unit; ``rain`` True / False / NA).
    """
    columns = ["t_s", "time_utc", "air", "track", "humidity_pct", "wind_speed",
               "wind_direction_deg", "pressure_inhg", "rain"]
    if weather is None or weather.empty:
        return pd.DataFrame(columns=columns)
    t_s = race_times_s(weather, race.get("start_time_of_day_s"))
    metric = units_for(race.get("series")).temp == "°C"

    def col(name: str) -> np.ndarray:
        return (weather[name].to_numpy(dtype=float) if name in weather
                else np.full(len(weather), np.nan))

    air, track = col("air_temp_f"), col("track_temp_f")
    wind = col("wind_speed_mph")
    if metric:
        air, track, wind = (air - 32) * 5 / 9, (track - 32) * 5 / 9, wind * MPH_TO_KPH
    rain = (weather["rain"].astype("boolean") if "rain" in weather
            else pd.Series([pd.NA] * len(weather), dtype="boolean"))
    frame = pd.DataFrame({
        "t_s": t_s, "time_utc": weather["time_utc"].to_numpy(),
        "air": np.round(air, 1), "track": np.round(track, 1),
        "humidity_pct": col("humidity_pct"), "wind_speed": np.round(wind, 1),
        "wind_direction_deg": col("wind_direction_deg"), "pressure_inhg": col("pressure_inhg"),
        "rain": rain.to_numpy(),
    })
    frame = frame[np.isfinite(frame["t_s"].to_numpy(dtype=float))]
    frame = frame[frame["t_s"] >= -MARGIN_S]
    if end_s is not None and math.isfinite(end_s):
        frame = frame[frame["t_s"] <= end_s + MARGIN_S]
    frame["rain"] = frame["rain"].astype("boolean")
    return frame.sort_values("t_s", kind="stable").reset_index(drop=True)


def rain_periods(line: pd.DataFrame) -> list[tuple[float, float]]:
    """(start, end) race times (s) of the runs of readings that say it rains; a run ends
    at the next reading that does not."""
    if line.empty or not line["rain"].fillna(False).astype(bool).any():
        return []
    wet = line["rain"].fillna(False).astype(bool).to_numpy()
    t = line["t_s"].to_numpy(dtype=float)
    out: list[tuple[float, float]] = []
    start = None
    for i, is_wet in enumerate(wet):
        if is_wet and start is None:
            start = t[i]
        elif not is_wet and start is not None:
            out.append((start, t[i]))
            start = None
    if start is not None:
        out.append((start, t[-1]))
    return out


def compass(degrees: object) -> str:
    """``"SW"`` for 225°; "" when unknown."""
    if degrees is None or not isinstance(degrees, int | float) or not math.isfinite(degrees):
        return ""
    return COMPASS[int((float(degrees) % 360) / 22.5 + 0.5) % 16]


@dataclass(frozen=True)
class Reading:
    """One reading as the panel shows it: every value as text, "—" when unknown."""

    t_s: float
    air: str
    track: str
    humidity: str
    wind: str        # speed
    wind_from: str   # "WNW (290°)": where the wind blows from
    rain: str


def _number(value: object, unit: str, decimals: int = 1) -> str:
    if value is None or not isinstance(value, int | float) or not math.isfinite(value):
        return "—"
    return f"{float(value):.{decimals}f} {unit}".strip()


def reading_at(line: pd.DataFrame, units: Units, t_s: float | None = None) -> Reading | None:
    """The latest reading at or before race time ``t_s`` (None: the last one); None when
    there is none yet."""
    rows = line if t_s is None else line[line["t_s"] <= t_s]
    if rows.empty:
        return None
    row = rows.iloc[-1]
    direction = row["wind_direction_deg"]
    wind_from = f"{compass(direction)} ({float(direction):.0f}°)" if compass(direction) \
        else "—"
    rain = row["rain"]
    return Reading(
        t_s=float(row["t_s"]), air=_number(row["air"], units.temp),
        track=_number(row["track"], units.temp),
        humidity=_number(row["humidity_pct"], "%", 0),
        wind=_number(row["wind_speed"], units.speed), wind_from=wind_from,
        rain="—" if rain is pd.NA or rain is None else ("yes" if bool(rain) else "no"))


def summary_text(line: pd.DataFrame, units: Units) -> str:
    """One line: the range of air and track temperature over the race, readings, rain."""
    if line.empty:
        return ""
    parts = []
    for name, col in (("Air", "air"), ("Track", "track")):
        values = line[col].dropna()
        if len(values):
            parts.append(f"{name} {values.min():.1f}–{values.max():.1f} {units.temp}")
    rain = line["rain"].dropna()
    parts.append("rain: not reported by the source" if rain.empty else
                 f"rain in {int(rain.astype(bool).sum())} of {len(rain)} readings")
    return f"{len(line)} readings · " + " · ".join(parts)


def race_time_range_h(elapsed_s: pd.Series, start_s: pd.Series | None = None,
                      ) -> tuple[float, float] | None:
    """The x range (h) a lap chart of these laps and the weather strip under it share:
    from the first lap's start to the last crossing, 1 % padding each side."""
    values = pd.to_numeric(elapsed_s, errors="coerce").dropna()
    if values.empty:
        return None
    low = float(pd.to_numeric(start_s, errors="coerce").min()) if start_s is not None \
        else float(values.min())
    low = min(low if math.isfinite(low) else float(values.min()), float(values.min()))
    high = float(values.max())
    pad = max(60.0, (high - low) * 0.01)
    return (low - pad) / 3600, (high + pad) / 3600
