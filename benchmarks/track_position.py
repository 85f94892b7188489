"""Accuracy of the track-position estimate on real races, against the plain baseline.

For each race (``../shared/realdata``, parsed and derived as the import does) this draws
random race times t (seeded) and, for every car between two of its crossings at t, compares:

- the estimate ``race.analysis.track_position.track_positions`` (laps at or before t only);
- the baseline "(t − last crossing) / last lap time", clamped below 1 as the estimate is;
- with the truth: where the car really was, interpolated between its real crossings and
  sector crossings (the *future* crossing and sector times of the lap it was on), sector
  boundaries placed at the race's median share of a green lap reached there (the same
  definition of a lap fraction as the estimate's, from the whole race).

Errors are circular distances in % of a lap. Printed per race: median and p90, green laps
(the lap in progress is neither neutralised nor an in- or out-lap) and all laps apart, the
estimate beside the baseline; then all races pooled. Lap 1 (no crossing before it) is left
out. Exit status 1 when the estimate's median (all laps) is not below the baseline's on
every race.

Usage: ``python benchmarks/track_position.py [--samples N] [--seed S] [--races REGEX]``
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from race.analysis.laps import derive_laps  # noqa: E402
from race.analysis.track_position import TRACK_LAP_COLUMNS, track_positions  # noqa: E402
from race.sources.lapfile import parse_lap_file  # noqa: E402

REALDATA = ROOT.parent / "shared" / "realdata"
RACES = ("wec/2024/le-mans-24h", "wec/2024/fuji-6h", "wec/2025/spa-6h",
         "imsa/2024/05-sebring-international-raceway", "imsa/2023/17-road-america",
         "imsa/2022/11-watkins-glen-international", "wec/2019/spa-6h")


def load_race(folder: Path) -> pd.DataFrame:
    """The race's laps as the import derives them (sorted by car and lap)."""
    path = next(folder.glob("*laps.csv"))
    laps, _ = derive_laps(parse_lap_file(path.read_bytes(), str(path)))
    return laps.sort_values(["number", "lap_number"], kind="stable").reset_index(drop=True)


def boundaries(laps: pd.DataFrame) -> np.ndarray:
    """The race's median share of a green lap reached at S1 and S2 (the truth's sector
    boundaries)."""
    lap = laps["lap_time_s"].to_numpy(dtype=float)
    s1, s2 = laps["s1_s"].to_numpy(dtype=float), laps["s2_s"].to_numpy(dtype=float)
    cum = np.column_stack([s1, s1 + s2]) / lap[:, None]
    ok = laps["clean"].to_numpy(dtype=bool) & np.isfinite(cum).all(axis=1) \
        & (cum[:, 0] > 0) & (cum[:, 0] < cum[:, 1]) & (cum[:, 1] < 1)
    return np.median(cum[ok], axis=0) if ok.any() else np.array([1 / 3, 2 / 3])


def truth(laps: pd.DataFrame, times: np.ndarray) -> dict[str, pd.DataFrame]:
    """Per car: the true fraction, the baseline and the lap's kind at each time (NaN when
    the car is not between two of its crossings)."""
    b1, b2 = boundaries(laps)
    out = {}
    for number, car in laps.groupby("number", sort=False):
        end = car["elapsed_s"].to_numpy(dtype=float)
        lap = car["lap_time_s"].to_numpy(dtype=float)
        s1, s2 = car["s1_s"].to_numpy(dtype=float), car["s2_s"].to_numpy(dtype=float)
        k = np.searchsorted(end, times, side="right")  # the lap in progress at t
        ok = (k >= 1) & (k < len(end))
        k = np.where(ok, k, 1)
        start = end[k] - lap[k]
        t1, t2 = start + s1[k], start + s1[k] + s2[k]
        shaped = np.isfinite(t1) & np.isfinite(t2) & (t1 > start) & (t2 > t1) & (t2 < end[k])
        t1 = np.where(shaped, t1, start + lap[k] / 3)
        t2 = np.where(shaped, t2, start + 2 * lap[k] / 3)
        c1, c2 = np.where(shaped, b1, 1 / 3), np.where(shaped, b2, 2 / 3)
        t = times
        with np.errstate(invalid="ignore", divide="ignore"):
            real = np.where(t < t1, (t - start) / (t1 - start) * c1,
                            np.where(t < t2, c1 + (t - t1) / (t2 - t1) * (c2 - c1),
                                     c2 + (t - t2) / (end[k] - t2) * (1 - c2)))
            base = np.clip((t - end[k - 1]) / lap[k - 1], 0.0, 0.999)
        green = ~(car["neutralised"].to_numpy(dtype=bool)[k]
                  | car["in_lap"].to_numpy(dtype=bool)[k]
                  | car["out_lap"].to_numpy(dtype=bool)[k])
        # t before the lap's own start (a lap time that is not the change of ELAPSED): out
        ok &= t >= start
        out[number] = pd.DataFrame({"truth": np.where(ok, np.clip(real, 0, 1), np.nan),
                                    "baseline": base, "green": green})
    return out


def circular_pct(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = np.abs(a - b) % 1.0
    return np.minimum(d, 1.0 - d) * 100.0


def measure(name: str, laps: pd.DataFrame, samples: int, rng: np.random.Generator
            ) -> tuple[pd.DataFrame, float]:
    times = np.sort(rng.uniform(0.0, float(laps["elapsed_s"].max()), samples))
    real = truth(laps, times)
    given = laps[TRACK_LAP_COLUMNS]
    rows, spent = [], 0.0
    for i, t in enumerate(times):
        started = time.perf_counter()
        estimate = track_positions(given, float(t))
        spent += time.perf_counter() - started
        for number, fraction in zip(estimate["number"], estimate["fraction"], strict=True):
            at = real[number].iloc[i]
            if np.isfinite(at["truth"]):
                rows.append((fraction, at["truth"], at["baseline"], at["green"]))
    frame = pd.DataFrame(rows, columns=["estimate", "truth", "baseline", "green"])
    frame["error"] = circular_pct(frame["estimate"].to_numpy(), frame["truth"].to_numpy())
    frame["baseline_error"] = circular_pct(frame["baseline"].to_numpy(),
                                           frame["truth"].to_numpy())
    frame["race"] = name
    return frame, spent / samples * 1000


def summary(frame: pd.DataFrame) -> str:
    parts = []
    for label, part in (("green", frame[frame["green"]]), ("all", frame)):
        e, b = part["error"], part["baseline_error"]
        parts.append(f"{label} {e.median():5.2f} / {b.median():5.2f}  "
                     f"p90 {e.quantile(0.9):5.2f} / {b.quantile(0.9):5.2f}")
    return "   ".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000, help="race times per race")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--races", default=".", help="regular expression on the race folders")
    args = parser.parse_args()
    races = [r for r in RACES if re.search(args.races, r) and (REALDATA / r).is_dir()]
    if not races:
        print(f"no real race under {REALDATA}: nothing to measure")
        return 0
    rng = np.random.default_rng(args.seed)
    print(f"error in % of a lap, estimate / baseline \"(t − last crossing) / last lap time\"; "
          f"{args.samples} race times per race (seed {args.seed})")
    frames, beaten = [], True
    for race in races:
        laps = load_race(REALDATA / race)
        frame, ms = measure(race, laps, args.samples, rng)
        frames.append(frame)
        beaten &= frame["error"].median() < frame["baseline_error"].median()
        green = frame["green"].mean()
        print(f"{race:<44} {len(frame):>7} cars×t ({green:4.0%} green)  {summary(frame)}  "
              f"({ms:.1f} ms per estimate)")
    pooled = pd.concat(frames, ignore_index=True)
    print(f"{'all races':<44} {len(pooled):>7} cars×t ({pooled['green'].mean():4.0%} green)  "
          f"{summary(pooled)}")
    print("verdict: " + ("the estimate beats the baseline on every race" if beaten else
                         "the estimate does NOT beat the baseline on every race"))
    return 0 if beaten else 1


if __name__ == "__main__":
    sys.exit(main())
