"""Inject one-lap time losses into a race, keeping the lap file consistent (ML.md §2).

How incident recall is measured: a loss is added to sector 2 of a clean green lap that has at
least 2 clean laps before it in its stint, one per car per 25 laps; that lap's LAP_TIME and
KPH change with it and every later ELAPSED and HOUR of the car moves by the loss, so
ELAPSED(n) − ELAPSED(n−1) = LAP_TIME(n) and S1 + S2 + S3 = LAP_TIME still hold.
``write_lap_file`` writes a frame back as an official lap file (variant C layout with ``;``)
so the command-line backtest can read injected or synthetic races.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from race.analysis.laps import derive_laps
from race.schema import LAP_SOURCE_COLUMNS

BLOCK_LAPS = 25
MIN_CLEAN_BEFORE = 2


def eligible_laps(laps: pd.DataFrame) -> pd.DataFrame:
    """Clean green laps with ≥ 2 clean laps before them in their stint: (number, lap_number)."""
    derived, _ = derive_laps(laps.sort_values(["number", "lap_number"], kind="stable"))
    key = derived["number"].astype(str) + "#" + derived["stint_number"].astype(str)
    clean_before = derived["clean"].astype(int).groupby(key).cumsum() - derived["clean"]
    ok = derived["clean"] & (clean_before >= MIN_CLEAN_BEFORE) & derived["s2_s"].notna()
    return derived.loc[ok, ["number", "lap_number"]].reset_index(drop=True)


def inject_losses(laps: pd.DataFrame, loss_s: float, *, block_laps: int = BLOCK_LAPS,
                  seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add ``loss_s`` seconds to sector 2 of chosen laps and shift the car's later crossings.

    Args:
        laps: parsed lap rows of one race (``race.sources.lapfile.parse_lap_file``).
        loss_s: time lost on each chosen lap (s).
        block_laps: at most one injected lap per car per this many laps.
        seed: random choice of the eligible lap within each block.

    Returns:
        (modified laps in the input's row order, injected laps ``number, lap_number``).
    """
    rng = np.random.default_rng(seed)
    eligible = eligible_laps(laps)
    eligible["block"] = (eligible["lap_number"] - 1) // block_laps
    chosen = (eligible.groupby(["number", "block"], sort=True)["lap_number"]
              .agg(lambda s: int(rng.choice(s.to_numpy())))
              .reset_index()[["number", "lap_number"]])
    out = laps.copy()
    hit = pd.MultiIndex.from_frame(out[["number", "lap_number"]]).isin(
        pd.MultiIndex.from_frame(chosen))
    old_time = out["lap_time_s"].to_numpy(dtype=float)
    out.loc[hit, "lap_time_s"] = old_time[hit] + loss_s
    for col in ("s2_s", "s2_large_s", "s2_seconds_s"):
        if col in out:
            out.loc[hit, col] = out.loc[hit, col] + loss_s
    if "speed_kph" in out:
        out.loc[hit, "speed_kph"] = (out.loc[hit, "speed_kph"] * old_time[hit]
                                     / (old_time[hit] + loss_s)).round(1)
    # Every crossing of the car from the injected lap on moves by the losses so far.
    order = out.sort_values(["number", "lap_number"], kind="stable").index
    shift = pd.Series(np.where(hit, loss_s, 0.0), index=out.index).loc[order]
    cumulative = shift.groupby(out.loc[order, "number"]).cumsum()
    out.loc[order, "elapsed_s"] = (out.loc[order, "elapsed_s"] + cumulative).round(3)
    if "hour_of_day_s" in out:
        out.loc[order, "hour_of_day_s"] = ((out.loc[order, "hour_of_day_s"] + cumulative)
                                           % 86400.0).round(3)
    return out, chosen


def _format_time(values: pd.Series) -> list[str]:
    """Seconds → ``H:MM:SS.mmm`` / ``M:SS.mmm`` / ``SS.mmm`` text ('' for NaN)."""
    out: list[str] = []
    for v in values.to_numpy(dtype=float):
        if not np.isfinite(v):
            out.append("")
            continue
        ms = round(v * 1000)
        h, rest = divmod(ms, 3_600_000)
        m, rest = divmod(rest, 60_000)
        s, milli = divmod(rest, 1000)
        if h:
            out.append(f"{h}:{m:02d}:{s:02d}.{milli:03d}")
        elif m:
            out.append(f"{m}:{s:02d}.{milli:03d}")
        else:
            out.append(f"{s}.{milli:03d}")
    return out


def write_lap_file(laps: pd.DataFrame, path: str | Path) -> Path:
    """Write parsed laps as an official lap file (``;``-separated, FLAG_AT_FL included)."""
    columns = {}
    for header, column, dtype in LAP_SOURCE_COLUMNS:
        if header.endswith("_SECONDS"):
            continue
        values = laps[column] if column in laps else pd.Series([None] * len(laps))
        if column == "crossing_in_pit":
            columns[header] = np.where(values.fillna(False).astype(bool), "B", "")
        elif column == "hour_of_day_s":
            columns[header] = _format_time(values % 86400.0)
        elif dtype == "DOUBLE" and column.endswith("_s"):
            columns[header] = _format_time(values)
        elif dtype == "DOUBLE":
            columns[header] = [("" if not np.isfinite(v) else f"{v:.1f}")
                               for v in values.to_numpy(dtype=float)]
        else:
            columns[header] = ["" if v is None or (isinstance(v, float) and np.isnan(v))
                               else str(v) for v in values]
    frame = pd.DataFrame(columns)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = ";".join(frame.columns) + ";\n" + "".join(
        ";".join(row) + ";\n" for row in frame.astype(str).itertuples(index=False, name=None))
    path.write_text(text, encoding="utf-8")
    return path
