"""Backtest of the strategy engine over ../shared/realdata (ML.md §3–4), forward in time.

Headline (default, ``--split forward``): the test races are the latest season of each series
(WEC 2025, IMSA 2024); each one's history is every race of an earlier season (any series).
Printed per test race and class, with the verdict against ML.md §3:

* next pit lap (in-lap), scored 10, 5 and 2 laps before each real green stop (stints ≥ 8
  laps with no neutralised lap): MAE of the model and of the baseline "the car's last full
  ≥ 8-lap green stint repeated" on the same points (``MAE_b``/``base``), MAE, ±1 lap and late
  (actual after the predicted latest; missing = late) on all points. A cell passes when
  (MAE_b ≤ 0.7 × base or (MAE ≤ 0.7 and ±1 ≥ 90 %)) and MAE_b ≤ base and late ≤ 5 %;
* stop cost of routine green stops: median absolute error of the engine against the class
  rolling median of the race, and the coverage of the 80 % interval
  (``stop_cost_low80_s``–``stop_cost_high80_s``; a missing bound is a miss). Passes when the
  pooled error is ≤ 0.9 × the baseline's, no race is worse than its baseline, and every
  race's coverage is within 0.75–0.85;
* class position 2 laps after the out-lap against "no change" (≥ 20 % better).

``--split loeo`` is the second view: each race in turn is the test race, the other races
(other years of the same track included; ``--by-track`` holds those out too) its history,
printed pooled per class group as before, plus the caution-stop and finish checks.

Usage: ``python benchmarks/strategy_eval.py [--split forward|loeo] [--draws 100]
[--only SUBSTRING] [--by-track]``
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

from race.importer import meta_from_path
from race.strategy.backtest import RaceFile, load_race_file, run_backtest, score, summarise_file
from race.strategy.history import History
from race.strategy.tracks import ENERGY_BOP, FUEL_LIMITED, OTHER, class_group

ROOT = Path(__file__).resolve().parent.parent
REALDATA = Path(os.environ.get("RACE_REALDATA", ROOT.parent / "shared" / "realdata"))
GROUPS = (FUEL_LIMITED, ENERGY_BOP, OTHER)
REL_GAIN = 0.7        # MAE ≤ this × baseline ...
ABS_MAE = 0.7         # ... or MAE ≤ this many laps with ±1 lap ≥ ABS_HIT1
ABS_HIT1 = 0.9
MAX_LATE = 0.05
COST_GAIN = 0.9       # stop cost: pooled median error ≤ this × the class rolling median's
COVERAGE = (0.75, 0.85)
POSITION_GAIN = 0.2


def race_year(race: RaceFile) -> int:
    year = meta_from_path(race.path)[1]
    return int(year) if year else 0


def pit_verdict(mae_b: float, base: float, mae: float, hit1: float, late: float) -> str:
    """ML.md §3 next-pit-lap rule for one cell: 'MET' or what fails. A cell where the
    baseline has no point (no car had a full green stint before the scored ones) is judged
    on the absolute rule and late stops only, and says so ('no base')."""
    if not np.isfinite(base):
        ok = mae <= ABS_MAE and hit1 >= ABS_HIT1 and late <= MAX_LATE
        return "MET (no base)" if ok else "n/a: no base" + (" +late" if late > MAX_LATE
                                                            else "")
    fails = []
    relative = np.isfinite(base) and base > 0 and mae_b <= REL_GAIN * base
    absolute = mae <= ABS_MAE and hit1 >= ABS_HIT1
    if not (relative or absolute):
        fails.append("gain")
    if np.isfinite(base) and mae_b > base:
        fails.append("worse")
    if late > MAX_LATE:
        fails.append("late")
    return "MET" if not fails else "MISS " + "+".join(fails)


def pit_cells(pit: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per cell: points, MAE, ±1, late (all points), model and baseline MAE on the points
    where the baseline exists, and the verdict."""
    def one(s: pd.DataFrame) -> pd.Series:
        both = s[s["baseline_error"].notna()]
        mae_b = both["error"].mean() if len(both) else np.nan
        base = both["baseline_error"].mean() if len(both) else np.nan
        mae, hit1, late = s["error"].mean(), s["hit1"].mean(), s["late"].mean()
        return pd.Series({
            "n": len(s), "MAE": mae, "±1": hit1, "late": late,
            "width": (s["pit_latest_lap"] - s["pit_earliest_lap"]).mean(),
            "n_b": len(both), "MAE_b": mae_b, "base": base,
            "ratio": mae_b / base if base and np.isfinite(base) else np.nan,
            "verdict": pit_verdict(mae_b, base, mae, hit1, late)})
    return pit.groupby(keys).apply(one, include_groups=False)


def cost_cells(cost: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per cell: routine stops, median absolute error of the engine and of the class rolling
    median, 80 % interval coverage (a missing bound is a miss) and mean width."""
    def one(s: pd.DataFrame) -> pd.Series:
        s = s[s["baseline_error"].notna()]
        out = {"n": len(s), "medAE": s["error"].median(), "base": s["baseline_error"].median()}
        if "stop_cost_low80_s" in s:
            inside = ((s["cost_s"] >= s["stop_cost_low80_s"])
                      & (s["cost_s"] <= s["stop_cost_high80_s"]))
            out["cover80"] = inside.mean()
            out["width80"] = (s["stop_cost_high80_s"] - s["stop_cost_low80_s"]).mean()
        return pd.Series(out)
    return cost.groupby(keys).apply(one, include_groups=False)


def position_cells(pos: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    p = pos.groupby(keys).agg(n=("error", "size"), MAE=("error", "mean"),
                              no_change=("baseline_error", "mean"))
    p["gain"] = 1 - p["MAE"] / p["no_change"]
    return p


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


def replay_all(tests: list[RaceFile], histories: dict[str, History], draws: int,
               ) -> tuple[dict[str, pd.DataFrame], list[tuple[str, int, float]]]:
    scored: dict[str, list[pd.DataFrame]] = {"pit": [], "cost": [], "position": []}
    replay_s = []
    for race in tests:
        t0 = time.perf_counter()
        rows = run_backtest(race, histories[race.race_id], draws=draws)
        replay_s.append((race.race_id, len(rows), time.perf_counter() - t0))
        for kind, frame in score(rows, race.laps).items():
            scored[kind].append(frame.assign(race=race.race_id, series=race.series))
    return {k: pd.concat(v, ignore_index=True) for k, v in scored.items()}, replay_s


def short(race_id: str) -> str:
    """``wec-2025-spa-6h`` → ``wec-2025-spa-6h``; IMSA ids lose the round number."""
    parts = race_id.split("-", 2)
    if len(parts) == 3 and parts[2][:2].isdigit() and parts[2][2:3] == "-":
        return f"{parts[0]}-{parts[1]}-{parts[2][3:]}"[:34]
    return race_id[:34]


def forward_report(scored: dict[str, pd.DataFrame]) -> list[tuple[str, bool]]:
    """Print the per race × class tables and return the targets with their verdicts."""
    pit, cost, pos = scored["pit"], scored["cost"], scored["position"]
    for frame in (pit, cost, pos):
        frame["race"] = frame["race"].map(short)
    pit_by = pit_cells(pit, ["race", "cls"])
    print("\n== next pit lap (in-lap) per test race and class, 10/5/2 laps before green stops ==")
    print("   MAE_b/base: model and 'last full green stint repeated' on the same points")
    print(pit_by.round(3).to_string())
    print("\n-- per class, pooled over the test races --")
    print(pit_cells(pit, ["series", "cls"]).round(3).to_string())
    cells_met = pit_by["verdict"].str.startswith("MET")
    judged = ~pit_by["verdict"].str.startswith("n/a")
    print(f"\ncells MET: {int(cells_met.sum())} of {len(pit_by)}; of the {int(judged.sum())} "
          f"cells with baseline points: {int((cells_met & judged).sum())}; points in the "
          f"cells without: {int(pit_by.loc[~judged, 'n'].sum())} of {int(pit_by['n'].sum())}")

    cost_by_race = cost_cells(cost, ["race"])
    cost_by_class = cost_cells(cost, ["race", "class_key"])
    pooled = cost_cells(cost.assign(all="all"), ["all"]).iloc[0]
    print("\n== stop cost of routine green stops (median abs error, s; 80 % interval) ==")
    verdict = []
    for _, r in cost_by_race.iterrows():
        ok = r["medAE"] <= r["base"]
        cov = r.get("cover80", np.nan)
        ok_cov = COVERAGE[0] <= cov <= COVERAGE[1]
        verdict.append("MET" if ok and ok_cov else "MISS " + "+".join(
            x for x, bad in (("worse", not ok), ("coverage", not ok_cov)) if bad))
    cost_by_race["verdict"] = verdict
    print(cost_by_race.round(3).to_string())
    print("\n-- per race and class --")
    print(cost_by_class.round(3).to_string())
    print(f"pooled: medAE {pooled['medAE']:.2f} s vs class rolling median {pooled['base']:.2f} s "
          f"(ratio {pooled['medAE'] / pooled['base']:.3f}, n {int(pooled['n'])}), "
          f"coverage {pooled.get('cover80', np.nan):.3f}")

    print("\n== class position 2 laps after the out-lap (MAE, positions) ==")
    pos_by = position_cells(pos, ["race"])
    print(pos_by.round(3).to_string())
    all_gain = 1 - pos["error"].mean() / pos["baseline_error"].mean()
    print(f"all: MAE {pos['error'].mean():.3f} vs no change "
          f"{pos['baseline_error'].mean():.3f} ({all_gain:+.1%})")
    cov = cost_by_race.get("cover80", pd.Series(np.nan, index=cost_by_race.index))
    return [
        ("next pit lap: every class of every test race MET", bool(cells_met.all())),
        ("next pit lap: every cell with baseline points MET", bool(cells_met[judged].all())),
        ("late ≤ 5 % on every cell", bool((pit_by["late"] <= MAX_LATE).all())),
        (f"stop cost pooled ≤ {COST_GAIN} × class rolling median "
         f"({pooled['medAE']:.2f} vs {COST_GAIN * pooled['base']:.2f} s)",
         bool(pooled["medAE"] <= COST_GAIN * pooled["base"])),
        ("stop cost ≤ class rolling median on every race",
         bool((cost_by_race["medAE"] <= cost_by_race["base"]).all())),
        (f"stop cost 80 % coverage in {COVERAGE} on every race "
         f"({cov.min():.3f}–{cov.max():.3f})",
         bool(cov.between(*COVERAGE).all())),
        (f"position after stop ≥ 20 % better than no change ({all_gain:+.1%})",
         bool(all_gain >= POSITION_GAIN)),
        ("position after stop better than no change on every race",
         bool((pos_by["gain"] > 0).all())),
    ]


def loeo_report(scored: dict[str, pd.DataFrame], summaries: dict, races: list,
                only: str | None, finish: bool) -> list[tuple[str, bool]]:
    pit, cost, pos = scored["pit"], scored["cost"], scored["position"]
    print("\n== next pit lap (in-lap), scored 10/5/2 laps before real green stops ==")
    for keys in (["group"], ["group", "series"], ["group", "lead"], ["series", "cls"]):
        print(pit_cells(pit, keys).round(3).to_string())
    print("\n== stop cost, routine green stops (median absolute error, s) ==")
    print(cost_cells(cost, ["series", "class_key"]).round(3).to_string())
    pooled = cost_cells(cost.assign(all="all"), ["all"]).iloc[0]
    print(f"all: medAE {pooled['medAE']:.2f} s, class rolling median {pooled['base']:.2f} s, "
          f"n {int(pooled['n'])}, coverage {pooled.get('cover80', np.nan):.3f}")
    print("\n== class position 2 laps after the out-lap (MAE, positions) ==")
    print(position_cells(pos, ["group"]).round(3).to_string())
    all_gain = 1 - pos["error"].mean() / pos["baseline_error"].mean()
    print(f"all: MAE {pos['error'].mean():.3f} vs no change "
          f"{pos['baseline_error'].mean():.3f} ({all_gain:+.1%})")
    print("\n== opportunistic stops under a caution (P per car, history of the other races) ==")
    print(caution_check(summaries, races).round(3).to_string())
    if finish:
        print("\n== finish projection: laps of the class winner, projected at 50/75/90 % ==")
        print(finish_check(races, summaries, only).round(2).to_string())
    cells = pit_cells(pit, ["series", "cls"])
    return [("next pit lap: every class MET (pooled over races)",
             bool(cells["verdict"].str.startswith("MET").all())),
            ("stop cost pooled ≤ 0.9 × class rolling median",
             bool(pooled["medAE"] <= COST_GAIN * pooled["base"])),
            ("position after stop ≥ 20 % better than no change",
             bool(all_gain >= POSITION_GAIN))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("forward", "loeo"), default="forward")
    parser.add_argument("--draws", type=int, default=100, help="Monte Carlo draws per row")
    parser.add_argument("--only", help="test only races whose path contains this")
    parser.add_argument("--by-track", action="store_true",
                        help="loeo: hold out every race of the test race's track")
    parser.add_argument("--no-finish", action="store_true", help="loeo: skip the finish check")
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
    histories: dict[str, History] = {}
    if args.split == "forward":
        latest = {}
        for r in races:
            latest[r.series] = max(latest.get(r.series, 0), race_year(r))
        tests = [r for r in races if race_year(r) == latest[r.series]]
        for r in tests:
            histories[r.race_id] = History.from_summaries(
                summaries[h.race_id] for h in races if race_year(h) < race_year(r))
        print("forward in time: test " + ", ".join(f"{s} {y}" for s, y in sorted(latest.items()))
              + "; history = every race of an earlier season")
    else:
        tests = races
        for r in races:
            held = {h.race_id for h in races if h.race_id == r.race_id
                    or (args.by_track and h.track == r.track)}
            histories[r.race_id] = History.from_summaries(
                s for k, s in summaries.items() if k not in held)
        print("leave-one-event-out" + (" (all years of the track held out)" if args.by_track
                                       else ""))
    if args.only:
        tests = [r for r in tests if args.only in str(r.path)]
    for r in tests:
        print(f"  test {r.race_id}: history {len(histories[r.race_id].summaries)} races")
    scored, replay_s = replay_all(tests, histories, args.draws)
    pd.set_option("display.width", 220)
    pd.set_option("display.max_columns", 30)
    pd.set_option("display.max_rows", 500)
    if args.split == "forward":
        checks = forward_report(scored)
    else:
        checks = loeo_report(scored, summaries, races, args.only, not args.no_finish)
    print("\n== targets (ML.md §3) ==")
    for name, ok in checks:
        print(f"  {'MET ' if ok else 'MISS'} {name}")
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
