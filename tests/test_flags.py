"""Flag periods: the live path's incremental crossings against the full rebuild."""

from __future__ import annotations

import numpy as np
import pandas as pd

from race.analysis.flags import SortedCrossings, rebuild_flag_periods


def test_sorted_crossings_equal_the_full_rebuild_batch_by_batch() -> None:
    """The live path's incremental crossings give the same periods as sorting them all."""
    rng = np.random.default_rng(7)
    n = 600
    elapsed = np.round(rng.uniform(0, 3000, n), 1)  # rounding makes ties
    elapsed[100:110] = 1500.0
    flags = np.array(["GF"] * n, dtype=object)
    flags[(elapsed > 800) & (elapsed < 950)] = "FCY"
    flags[(elapsed > 2000) & (elapsed < 2300)] = "SF"
    flags[rng.choice(n, 20, replace=False)] = None  # unknown flags are left out
    flags[-5:] = "FF"
    crossings = SortedCrossings()
    for batch in np.array_split(np.arange(n), 37):
        crossings.add(elapsed[batch], flags[batch])
        seen = batch[-1] + 1
        expected = rebuild_flag_periods({"elapsed_s": elapsed[:seen], "flag": flags[:seen]})
        pd.testing.assert_frame_equal(crossings.periods().reset_index(drop=True),
                                      expected.reset_index(drop=True))
    assert len(crossings.periods()) >= 2  # FCY and SF (green crossings may split SF)
