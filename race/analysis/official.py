"""The final order rebuilt from laps, checked against an official classification (IMSA).

The rebuilt order (``standings_at`` at the end of the race) matches the official class
classification for about 95 % of cars (DATA.md §2). This module compares the two car by car
and names the reason of every mismatch, from what the official file itself shows:

- time penalty: the official total time exceeds the car's last crossing in the lap file;
- position penalty: the official order puts the car behind cars with fewer laps or a later
  finish (taken out of laps/time order, e.g. moved to the back of its class);
- displaced: another car of the class was penalised, which moves this one;
- zero-lap entry: the car has no crossing in the lap file;
- laps differ: the official lap count is not the one in the lap file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Official total time later than the last crossing by more than this is a time penalty (s).
TIME_PENALTY_MIN_S = 0.5
CLASSIFIED = "Classified"
COMPARISON_COLUMNS = [
    "number", "class", "official_position", "official_class_position", "rebuilt_class_position",
    "official_laps", "rebuilt_laps", "match", "reason",
]


def _out_of_order(key: list[tuple[float, float]]) -> set[int]:
    """Indexes to remove so that ``key`` (official order, smaller = better) becomes sorted.

    Greedy: repeatedly drop the element involved in the most inversions. Classes hold a few
    dozen cars, so the quadratic count is cheap.
    """
    removed: set[int] = set()
    alive = list(range(len(key)))
    while True:
        counts = {i: 0 for i in alive}
        for a, i in enumerate(alive):
            for j in alive[a + 1:]:
                if key[j] < key[i]:
                    counts[i] += 1
                    counts[j] += 1
        worst = max(counts, key=lambda i: (counts[i], i), default=None)
        if worst is None or counts[worst] == 0:
            return removed
        removed.add(worst)
        alive.remove(worst)


def compare_classification(official: pd.DataFrame, rebuilt: pd.DataFrame) -> pd.DataFrame:
    """Compare the official classification with the order rebuilt from laps.

    Args:
        official: the ``classification`` table of one race (``number, position,
            class_position, status, laps, total_time_s, class``).
        rebuilt: ``standings_at`` rows at the end of the race (``number, class_position,
            laps, last_crossing_s``).

    Returns:
        One row per classified car (``COMPARISON_COLUMNS``): ``match`` when class position
        and laps agree; ``reason`` names why not ("" when they agree).
    """
    cls = official[official["status"].eq(CLASSIFIED)].sort_values("position")
    merged = cls.merge(rebuilt[["number", "class_position", "laps", "last_crossing_s"]],
                       on="number", how="left", suffixes=("", "_rb"))
    laps_rb = merged["laps_rb"].fillna(0).astype(int)
    merged["match"] = (merged["class_position"].eq(merged["class_position_rb"])
                       & merged["laps"].eq(laps_rb)).to_numpy(dtype=bool)
    excess = merged["total_time_s"] - merged["last_crossing_s"]
    merged["time_penalty_s"] = excess.where(excess > TIME_PENALTY_MIN_S)
    merged["position_penalty"] = False
    for _, group in merged.groupby("class", sort=False):
        # Smaller key = better: more laps, then earlier finish (official total time).
        key = list(zip((-group["laps"].fillna(0)).tolist(),
                       group["total_time_s"].fillna(np.inf).tolist(), strict=True))
        for i in _out_of_order(key):
            merged.loc[group.index[i], "position_penalty"] = True
    reasons = []
    for row in merged.itertuples():
        if row.match:
            reasons.append("")
        elif pd.isna(row.last_crossing_s):
            reasons.append("zero-lap entry (no crossing in the lap file)")
        elif row.laps != laps_rb[row.Index]:
            reasons.append(f"laps differ: official {row.laps}, lap file {laps_rb[row.Index]}")
        elif pd.notna(row.time_penalty_s):
            reasons.append(f"time penalty +{row.time_penalty_s:.1f} s (official total time "
                           "after its last crossing)")
        elif row.position_penalty:
            reasons.append("position penalty (classified behind cars with fewer laps or a "
                           "later finish)")
        else:
            same = merged[merged["class"].eq(merged.at[row.Index, "class"])]
            culprits = same[same["time_penalty_s"].notna() | same["position_penalty"]]
            reasons.append("displaced by a penalty to #" + ", #".join(culprits["number"])
                           if len(culprits) else "unexplained")
    merged["reason"] = reasons
    out = merged.rename(columns={"position": "official_position",
                                 "class_position": "official_class_position",
                                 "class_position_rb": "rebuilt_class_position",
                                 "laps": "official_laps"})
    out["rebuilt_laps"] = laps_rb
    out["rebuilt_class_position"] = out["rebuilt_class_position"].astype("Int64")
    return out[COMPARISON_COLUMNS].reset_index(drop=True)
