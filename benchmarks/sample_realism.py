"""Realism of the synthetic sample: a generated 6 h race side by side with the real 6 h races.

Run: ``python benchmarks/sample_realism.py [--seed N] [--series WEC|IMSA] [--realdata DIR]``

Real 6 h races are the lap files under ``<realdata>/wec/*/*6h*`` and
``<realdata>/imsa/*/*watkins-glen-international*`` whose last crossing falls between 5.8 and
6.5 h. Files without FLAG_AT_FL (WEC ≤ 2019) are shown but left out of the ranges: their
neutralisations are only inferred. Prints per-class median clean lap, within-stint noise,
median stint length, PIT_TIME median, neutralised share and stops per car, then the real
min–max and whether each sample figure falls inside it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from race.analysis.race_figures import (  # noqa: E402
    RaceFigures,
    figure_ranges,
    outside_ranges,
    race_figures,
)
from race.importer import build_race_frames  # noqa: E402
from race.sample import generate_sample_race  # noqa: E402
from race.sources.lapfile import parse_lap_file  # noqa: E402

REALDATA = ROOT.parent / "shared" / "realdata"
SIX_HOUR_PATTERNS = ("wec/*/*6h*/laps.csv", "imsa/*/*watkins-glen-international*/laps.csv")


def figures_of(data: bytes, source: str) -> RaceFigures:
    return race_figures(build_race_frames(parse_lap_file(data, source)))


def real_six_hour_races(realdata: Path) -> dict[str, RaceFigures]:
    """Figures of every real race of 5.8–6.5 h under ``realdata``, by ``series/year/event``."""
    out: dict[str, RaceFigures] = {}
    paths = sorted({p for pattern in SIX_HOUR_PATTERNS for p in realdata.glob(pattern)})
    for path in paths:
        figures = figures_of(path.read_bytes(), str(path))
        if 5.8 <= figures.race_hours <= 6.5:
            out["/".join(path.parts[-4:-1])] = figures
    return out


def realism_ranges(real: dict[str, RaceFigures]) -> dict[str, tuple[float, float]]:
    """Ranges over the real races that carry flags (neutralisations not inferred)."""
    return figure_ranges([f for f in real.values() if f.has_flags])


def _rows(columns: dict[str, RaceFigures]) -> list[tuple[str, list[float | None]]]:
    names = [("noise σ (s)", "noise_s"), ("stint (laps)", "stint_laps"),
             ("PIT_TIME median (s)", "pit_time_s"), ("neutralised share", "neutralised_share"),
             ("stops per car", "stops_per_car")]
    rows = [(label, [getattr(f, attr) for f in columns.values()]) for label, attr in names]
    classes = sorted({c for f in columns.values() for c in f.class_median_lap_s})
    for cls in classes:
        rows.append((f"lap {cls} (s)", [f.class_median_lap_s.get(cls) for f in columns.values()]))
    return rows


def print_table(sample_name: str, sample: RaceFigures, real: dict[str, RaceFigures],
                ranges: dict[str, tuple[float, float]]) -> list[str]:
    """Print the comparison; return the sample figures outside the real range."""
    columns = {sample_name: sample, **real}
    short = [sample_name] + [k.split("/", 1)[1].replace("-international", "")[:16] +
                             ("" if f.has_flags else "*") for k, f in real.items()]
    width = max(8, *(len(s) for s in short))
    print(f"{'figure':<22}" + "".join(f"{s:>{width + 1}}" for s in short)
          + f"{'real min–max':>20}  in range")
    keys = ["noise_s", "stint_laps", "pit_time_s", "neutralised_share", "stops_per_car"]
    rows = _rows(columns)
    for (label, values), key in zip(rows, keys + [None] * len(rows), strict=False):
        if key is None:
            key = "lap:" + label[4:-4]
        cells = "".join(f"{v:>{width + 1}.3f}" if v is not None else f"{'–':>{width + 1}}"
                        for v in values)
        low_high = ranges.get(key)
        if low_high is None:
            span, verdict = "–", ""
        else:
            span = f"{low_high[0]:.3f}–{low_high[1]:.3f}"
            own = values[0]
            verdict = "" if own is None else ("yes" if low_high[0] <= own <= low_high[1]
                                              else "NO")
        print(f"{label:<22}{cells}{span:>20}  {verdict}")
    print("* no FLAG_AT_FL in the file: shown, not part of the ranges")
    return outside_ranges(sample, ranges)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--series", default="WEC", choices=["WEC", "IMSA"])
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--realdata", type=Path, default=REALDATA)
    args = parser.parse_args()
    if not args.realdata.is_dir():
        print(f"no real data at {args.realdata}")
        return 1
    started = time.perf_counter()
    data = generate_sample_race(args.hours, args.seed, args.series)
    generated = time.perf_counter()
    sample = figures_of(data, "sample")
    real = real_six_hour_races(args.realdata)
    done = time.perf_counter()
    print(f"sample {args.series} {args.hours:g} h seed {args.seed}: generated in "
          f"{generated - started:.2f} s; {len(real)} real 6 h races read in "
          f"{done - generated:.2f} s\n")
    problems = print_table(f"sample-{args.series}", sample, real, realism_ranges(real))
    print("\nall sample figures inside the real range" if not problems
          else "\noutside: " + "; ".join(problems))
    return 0 if not problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
