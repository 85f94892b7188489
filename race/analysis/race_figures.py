"""A race's character in a few figures: pace per class, noise, stints, stops, neutralisations.

Used to compare the synthetic sample with real races (``benchmarks/sample_realism.py``) and
handy for a race summary. Every figure is computed from the derived tables of
``race.importer.build_race_frames``; "clean" laps follow ML.md §1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

ROBUST_SIGMA = 1.4826  # MAD → σ for a normal distribution


@dataclass
class RaceFigures:
    """Summary figures of one race.

    Attributes:
        class_median_lap_s: median clean lap per class (s).
        noise_s: within-stint noise: robust σ (1.4826 × MAD) of clean laps' residuals from
            their (car, stint) median (s).
        stint_laps: median length of stints that end in the pits (laps).
        pit_time_s: median PIT_TIME over all stops (s).
        neutralised_share: share of laps overlapping a neutralisation period (0–1).
        stops_per_car: median number of pit stops per car (cars without a stop count 0).
        race_hours: race time of the last crossing (h).
        has_flags: the file had FLAG_AT_FL (neutralisations are not inferred).
    """

    class_median_lap_s: dict[str, float] = field(default_factory=dict)
    noise_s: float = float("nan")
    stint_laps: float = float("nan")
    pit_time_s: float = float("nan")
    neutralised_share: float = float("nan")
    stops_per_car: float = float("nan")
    race_hours: float = float("nan")
    has_flags: bool = True

    SCALARS = ("noise_s", "stint_laps", "pit_time_s", "neutralised_share", "stops_per_car")


def race_figures(frames: dict[str, pd.DataFrame]) -> RaceFigures:
    """Compute ``RaceFigures`` from a race's derived tables (laps, stints, pit_stops)."""
    laps, stints, stops = frames["laps"], frames["stints"], frames["pit_stops"]
    clean = laps.loc[laps["clean"], ["number", "stint_number", "class", "lap_time_s"]]
    stint_median = clean.groupby(["number", "stint_number"])["lap_time_s"].transform("median")
    residual = (clean["lap_time_s"] - stint_median).to_numpy()
    noise = (ROBUST_SIGMA * float(np.median(np.abs(residual - np.median(residual))))
             if len(residual) else float("nan"))
    ended = stints.loc[stints["ended_in_pit"].astype(bool), "laps"]
    per_car = stops.groupby("number").size().reindex(laps["number"].unique(), fill_value=0)
    return RaceFigures(
        class_median_lap_s={str(k): float(v) for k, v in
                            clean.groupby("class")["lap_time_s"].median().items()},
        noise_s=noise,
        stint_laps=float(ended.median()) if len(ended) else float("nan"),
        pit_time_s=float(stops["pit_time_s"].median()) if len(stops) else float("nan"),
        neutralised_share=float(laps["neutralised"].mean()),
        stops_per_car=float(per_car.median()) if len(per_car) else float("nan"),
        race_hours=float(laps["elapsed_s"].max()) / 3600.0,
        has_flags=bool(laps["flag"].notna().any()),
    )


def figure_ranges(figures: list[RaceFigures]) -> dict[str, tuple[float, float]]:
    """Min–max of each scalar figure and of each class's median lap across races.

    Class medians are keyed ``lap:<CLASS>``; a class seen in one race has a range of one value.
    """
    ranges: dict[str, tuple[float, float]] = {}
    for name in RaceFigures.SCALARS:
        values = [getattr(f, name) for f in figures if np.isfinite(getattr(f, name))]
        if values:
            ranges[name] = (min(values), max(values))
    classes = sorted({c for f in figures for c in f.class_median_lap_s})
    for cls in classes:
        values = [f.class_median_lap_s[cls] for f in figures if cls in f.class_median_lap_s]
        ranges[f"lap:{cls}"] = (min(values), max(values))
    return ranges


def outside_ranges(sample: RaceFigures,
                   ranges: dict[str, tuple[float, float]]) -> list[str]:
    """The sample's figures that fall outside ``ranges`` (classes unknown to them are skipped)."""
    problems = []
    values = {name: getattr(sample, name) for name in RaceFigures.SCALARS}
    values.update({f"lap:{c}": v for c, v in sample.class_median_lap_s.items()})
    for name, value in values.items():
        if name not in ranges:
            continue
        low, high = ranges[name]
        if not low <= value <= high:
            problems.append(f"{name} = {value:.3f} outside [{low:.3f}, {high:.3f}]")
    return problems
