"""Strategy engine on the real races in ../shared/realdata (skipped when absent)."""

from __future__ import annotations

import numpy as np
import pytest

from race.strategy.backtest import RaceFile, load_race_file, run_backtest, score, summarise_file
from race.strategy.causal import causal_lap_facts
from race.strategy.drive_time import driver_summary
from race.strategy.history import History
from tests.conftest import real_file_id, real_lap_files, requires_realdata

pytestmark = [requires_realdata, pytest.mark.realdata]


@pytest.fixture(scope="module")
def real_races() -> dict[str, RaceFile]:
    return {real_file_id(p): load_race_file(p) for p in real_lap_files()}


def test_drive_time_is_the_sum_of_the_drivers_laps(real_races: dict[str, RaceFile]) -> None:
    assert len(real_races) >= 40
    for race_id, race in real_races.items():
        laps = race.laps
        summary = driver_summary(laps, float(laps["elapsed_s"].max()))
        expected = laps.groupby(["number", "driver_number"])["lap_time_s"].sum()
        got = summary.set_index(["number", "driver_number"])["drive_time_s"]
        assert np.allclose(got.sort_index(), expected.sort_index(), atol=1e-6), race_id
        # and a car's drivers together drove exactly its race time (ELAPSED of its last lap)
        per_car = summary.groupby("number")["drive_time_s"].sum().sort_index()
        final = laps.groupby("number")["elapsed_s"].max().sort_index()
        assert np.allclose(per_car, final, atol=0.01), race_id
        assert np.allclose(summary.groupby("number")["share"].sum(), 1.0, atol=1e-3), race_id


@pytest.mark.parametrize("race_id", ["imsa/2023/12-watkins-glen-international",
                                     "wec/2019/spa-6h"])
def test_causal_facts_equal_on_truncated_real_race(real_races: dict[str, RaceFile],
                                                   race_id: str) -> None:
    laps = real_races[race_id].laps
    full, _ = causal_lap_facts(laps)
    end = float(laps["elapsed_s"].max())
    for t in (0.25 * end, 0.5 * end, 0.8 * end):
        cut, _ = causal_lap_facts(laps[laps["elapsed_s"] <= t])
        mine = full[full["elapsed_s"] <= t].reset_index(drop=True)
        for col in ("neutral_c", "restart_c", "clean_c"):
            assert (mine[col].to_numpy() == cut[col].to_numpy()).all(), (race_id, t, col)


def test_backtest_on_a_real_race(real_races: dict[str, RaceFile]) -> None:
    """A sprint race replayed with the other Laguna Seca races as history."""
    test_id = "imsa/2024/08-weathertech-raceway-laguna-seca"
    test = real_races[test_id]
    history = History.from_summaries(
        summarise_file(r)
        for k, r in real_races.items() if r.track == test.track and k != test_id)
    assert len(history.summaries) >= 2
    rows = run_backtest(test, history, draws=10)
    assert len(rows) == len(test.laps)
    scored = score(rows, test.laps)
    pit = scored["pit"]
    assert len(pit) > 30
    assert pit["pit_expected_lap"].notna().all()
    assert pit["late"].mean() <= 0.15
    both = pit[pit["baseline_error"].notna()]
    assert both["error"].mean() < both["baseline_error"].mean()
    pos = scored["position"]
    assert pos["error"].mean() < pos["baseline_error"].mean()

