"""Leave-one-event-out backtest of the strategy engine over ../shared/realdata (ML.md §3–4).

Each race in turn is the test race; the other races are its history (stint lengths, stop
costs, pit-lane offsets, neutral-lap fuel fraction, caution stops; other years of the same
track are legitimate stored history). ``--by-track`` holds out every year of the test
race's track too (stricter: no same-track history at all).

Prints, per class group (fuel-limited LMP2/LMP3; energy/BoP Hypercar, LMGT3, GTP, GTD,
GTD PRO; other) and per series:
- next pit lap scored 10, 5 and 2 laps before each real green stop (stints ≥ 8 laps with no
  neutralised lap): MAE, ±1 lap hit rate, late rate (actual beyond the predicted latest lap;
  missing = late), window width; MAE against the baseline "car's last full green stint
  repeated" on the points where that baseline exists;
- stop cost median absolute error on routine green stops vs the class rolling median;
- class position 2 laps after the out-lap: MAE vs "no change";
then the targets and whether each is met.

Usage: ``python benchmarks/strategy_eval.py [--draws 100] [--only SUBSTRING] [--by-track]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from race.strategy.backtest import load_race_file, run_backtest, score, summarise_file
from race.strategy.history import History
from race.strategy.tracks import ENERGY_BOP, FUEL_LIMITED, OTHER, class_group

ROOT = Path(__file__).resolve().parent.parent
REALDATA = Path(os.environ.get("RACE_REALDATA", ROOT.parent / "shared" / "realdata"))
GROUPS = (FUEL_LIMITED, ENERGY_BOP, OTHER)


def pit_table(pit: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    def one(s: pd.DataFrame) -> pd.Series:
        both = s[s["baseline_error"].notna()]
        return pd.Series({
            "n": len(s), "MAE": s["error"].mean(), "±1": s["hit1"].mean(),
            "late": s["late"].mean(), "width": (s["pit_latest_lap"]
                                                - s["pit_earliest_lap"]).mean(),
            "n_base": len(both), "MAE_on_base": both["error"].mean(),
            "base_MAE": both["baseline_error"].mean(),
            "gain": 1 - both["error"].mean() / both["baseline_error"].mean(),
        })
    return pit.groupby(keys).apply(one, include_groups=False)


def caution_check(summaries: dict, races: list) -> pd.DataFrame:
    """Brier score of P(pit during a caution) against the base rate, leave-one-race-out."""
    rows = []
    for race in races:
        mine = summaries[race.race_id].caution
        if mine.empty:
            continue
        history = History.from_summaries(s for k, s in summaries.items() if k != race.race_id)
        for group, cars in mine.groupby(mine["class_key"].map(class_group)):
            table = history.caution_table(group)
            if table.empty or table["n"].sum() == 0:
                continue
            idx = np.clip(np.searchsorted(table["hi"].to_numpy(), cars["progress"].to_numpy(),
                                          side="right"), 0, len(table) - 1)
            p = np.nan_to_num(table["p"].to_numpy()[idx], nan=0.0)
            base = float((table["p"] * table["n"]).sum() / table["n"].sum())
            y = cars["pitted"].to_numpy(dtype=float)
            rows.append(pd.DataFrame({"group": group, "p": p, "base": base, "y": y}))
    frame = pd.concat(rows, ignore_index=True)
    out = frame.groupby("group").apply(lambda f: pd.Series({
        "cars x cautions": len(f), "pitted": f["y"].mean(),
        "Brier": ((f["p"] - f["y"]) ** 2).mean(),
        "Brier base rate": ((f["base"] - f["y"]) ** 2).mean()}), include_groups=False)
    out["skill"] = 1 - out["Brier"] / out["Brier base rate"]
    return out


def finish_check(races: list, summaries: dict, only: str | None) -> pd.DataFrame:
    """Projected laps of each class's winner at 50/75/90 % of the race against the real
    final lap count; baseline: the winner's laps so far scaled by time (laps × end / t)."""
    from race.strategy.live import build_snapshot
    rows = []
    for race in races:
        if (only and only not in str(race.path)) or race.end_s is None:
            continue
        history = History.from_summaries(s for k, s in summaries.items() if k != race.race_id)
        final = race.laps.groupby("class")["lap_number"].max()
        for share in (0.5, 0.75, 0.9):
            t_s = share * race.end_s
            snap = build_snapshot(race.laps, history, track=race.track, series=race.series,
                                  end_s=race.end_s, t_s=t_s, draws=20)
            cars = snap.cars
            for cls, c in cars.groupby("class"):
                lead = c.sort_values("laps", ascending=False).iloc[0]
                rows.append({"at": share, "class": cls,
                             "error": abs(lead["class_leader_laps"] - final[cls]),
                             "baseline": abs(lead["laps"] * race.end_s / t_s - final[cls])})
    frame = pd.DataFrame(rows)
    return frame.groupby("at").agg(n=("error", "size"), MAE=("error", "mean"),
                                   median=("error", "median"),
                                   baseline_MAE=("baseline", "mean"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=100, help="Monte Carlo draws per row")
    parser.add_argument("--only", help="test only races whose path contains this")
    parser.add_argument("--by-track", action="store_true",
                        help="hold out every race of the test race's track")
    args = parser.parse_args()
    files = sorted(REALDATA.glob("*/*/*/laps.csv"))
    if not files:
        print(f"no real data under {REALDATA}")
        return 1
    started = time.perf_counter()
    races = [load_race_file(f) for f in files]
    summaries = {r.race_id: summarise_file(r) for r in races}
    loaded = time.perf_counter()
    print(f"{len(races)} races loaded and summarised in {loaded - started:.1f} s")
    scored: dict[str, list[pd.DataFrame]] = {"pit": [], "cost": [], "position": []}
    replay_s = []
    for race in races:
        if args.only and args.only not in str(race.path):
            continue
        held = {r.race_id for r in races if r.race_id == race.race_id
                or (args.by_track and r.track == race.track)}
        history = History.from_summaries(s for k, s in summaries.items() if k not in held)
        t0 = time.perf_counter()
        rows = run_backtest(race, history, draws=args.draws)
        replay_s.append((race.race_id, len(rows), time.perf_counter() - t0))
        for kind, frame in score(rows, race.laps).items():
            scored[kind].append(frame.assign(race=race.race_id, series=race.series))
    pit = pd.concat(scored["pit"], ignore_index=True)
    cost = pd.concat(scored["cost"], ignore_index=True)
    pos = pd.concat(scored["position"], ignore_index=True)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 30)
    print("\n== next pit lap (in-lap), scored 10/5/2 laps before real green stops ==")
    print(pit_table(pit, ["group"]).round(3).to_string())
    print(pit_table(pit, ["group", "series"]).round(3).to_string())
    print(pit_table(pit, ["group", "lead"]).round(3).to_string())
    print(pit_table(pit, ["cls"]).round(3).to_string())
    print("\n== stop cost, routine green stops (median absolute error, s) ==")
    c = cost.groupby(["group"]).agg(n=("error", lambda e: int(e.notna().sum())),
                                    medAE=("error", "median"),
                                    base_medAE=("baseline_error", "median"),
                                    missing=("stop_cost_s", lambda x: x.isna().mean()))
    print(c.round(3).to_string())
    print(cost.groupby(["series"]).agg(medAE=("error", "median"),
                                       base_medAE=("baseline_error", "median")).round(3))
    print(f"all: medAE {cost['error'].median():.2f} s, class rolling median "
          f"{cost['baseline_error'].median():.2f} s, n {int(cost['error'].notna().sum())}")
    print("\n== class position 2 laps after the out-lap (MAE, positions) ==")
    p = pos.groupby("group").agg(n=("error", "size"), MAE=("error", "mean"),
                                 no_change=("baseline_error", "mean"))
    p["gain"] = 1 - p["MAE"] / p["no_change"]
    print(p.round(3).to_string())
    print(pos.groupby("lead").agg(MAE=("error", "mean"),
                                  no_change=("baseline_error", "mean")).round(3).to_string())
    all_gain = 1 - pos["error"].mean() / pos["baseline_error"].mean()
    print(f"all: MAE {pos['error'].mean():.3f} vs no change "
          f"{pos['baseline_error'].mean():.3f} ({all_gain:+.1%})")

    print("\n== opportunistic stops under a caution (P per car, history of the other races) ==")
    print(caution_check(summaries, races).round(3).to_string())
    print("\n== finish projection: laps of the class winner, projected at 50/75/90 % ==")
    print(finish_check(races, summaries, args.only).round(2).to_string())

    print("\n== targets (ML.md §3) ==")
    fuel = pit[pit["group"] == FUEL_LIMITED]
    energy = pit[(pit["group"] == ENERGY_BOP) & pit["baseline_error"].notna()]
    checks = [
        ("fuel-limited pit-lap MAE ≤ 0.7 laps", fuel["error"].mean(), 0.7, "le"),
        ("fuel-limited ±1 lap ≥ 90 %", fuel["hit1"].mean(), 0.9, "ge"),
        ("energy/BoP MAE ≥ 30 % below last green stint",
         1 - energy["error"].mean() / energy["baseline_error"].mean(), 0.3, "ge"),
        ("late ≤ 5 % (all scored stops)", pit["late"].mean(), 0.05, "le"),
        ("stop cost median abs error ≤ 3 s", cost["error"].median(), 3.0, "le"),
        ("position after stop ≥ 20 % below no change", all_gain, 0.2, "ge"),
    ]
    for name, value, bar, how in checks:
        ok = value <= bar if how == "le" else value >= bar
        print(f"  {'MET ' if ok else 'MISS'} {name}: {value:.3f}")
    total = sum(s for _, _, s in replay_s)
    rows_n = sum(n for _, n, _ in replay_s)
    slowest = max(replay_s, key=lambda x: x[2])
    print(f"\nreplayed {len(replay_s)} races, {rows_n} rows in {total:.0f} s "
          f"({1000 * total / max(rows_n, 1):.2f} ms/row); slowest {slowest[0]} "
          f"{slowest[2]:.1f} s; load {loaded - started:.1f} s")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
