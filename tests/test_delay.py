"""TV delay: with a 60 s delay every view equals the replay of the race at now − 60 s.

On our synthetic race (``tests.live_helpers.synthetic_lap_file``, imported, with its
predictions and alerts stored): the moment a 60 s delay gives (``race.present.timeline``,
as app.py computes it for ``ui.state.Selection``) is now − 60; each view function the pages
call — leaderboard, race feed, strategy snapshot, predictions rows, lap chart data — gives
at that moment what it gives for a replay at t = now − 60. And where the replay can be
rebuilt independently (the race as the lap file stood at t: its rows up to t, derived again),
the delayed view equals that too.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from race.analysis.events import race_events
from race.analysis.standings import prepare_laps, standings_at
from race.importer import build_race_frames, import_lap_file
from race.models.live_models import update_race_models
from race.present import queries, timeline, views
from race.sources.lapfile import parse_lap_file
from race.store import RaceStore
from race.strategy.views import field_rows
from tests.live_helpers import synthetic_lap_file

DELAY_S = 60
# Kinds known at the moment they happen (a retirement is only known once the car has been
# silent for 3 median laps, which a cut file cannot tell from a car still on its lap).
CAUSAL_KINDS = ("pit_in", "pit_out", "driver_change", "class_lead", "class_fastest_lap")


@pytest.fixture(scope="module")
def race(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, bytes]:
    folder = tmp_path_factory.mktemp("delay")
    data = synthetic_lap_file()
    with RaceStore(folder / "race.duckdb") as store:
        result = import_lap_file(store, folder / "synthetic-6h" / "laps.csv", data=data,
                                 series="IMSA", event="synthetic", year=2025)
        update_race_models(store, result.race_id, force=True, auto_train=False,
                           models_dir=folder / "models")
    return folder / "race.duckdb", result.race_id, data


@pytest.fixture(scope="module")
def store(race: tuple[Path, str, bytes]):
    with RaceStore(race[0]) as s:
        yield s


@pytest.fixture(scope="module", params=["end", "mid-race replay"])
def moments(request: pytest.FixtureRequest, store: RaceStore,
            race: tuple[Path, str, bytes]) -> tuple[float, float]:
    """(the moment a 60 s delay shows, the replay moment now − 60), as app.py computes them:
    "now" is the end of the stored race, or a replay moment 60 % into it (the replay slider
    and the delay compose)."""
    race_id = race[1]
    latest = float(store.table("laps", race_id, ["elapsed_s"])["elapsed_s"].max())
    now = timeline.race_now_s(latest, store.live_state(race_id))
    if request.param == "end":
        delayed = timeline.as_of_s(now, DELAY_S)
        replay = timeline.as_of_s(now, 0, replay_t_s=now - DELAY_S)
        assert delayed == replay == pytest.approx(latest - DELAY_S)
        return delayed, now - DELAY_S
    moment = round(0.6 * latest, 3)
    delayed = timeline.as_of_s(now, DELAY_S, replay_t_s=moment)
    assert delayed == timeline.as_of_s(now, 0, replay_t_s=moment - DELAY_S)
    return delayed, moment - DELAY_S


@pytest.fixture(scope="module")
def cut(race: tuple[Path, str, bytes], moments: tuple[float, float]) -> dict[str, pd.DataFrame]:
    """The race as the lap file stood at now − 60: its rows up to then, derived again."""
    parsed = parse_lap_file(race[2], "synthetic.csv")
    return build_race_frames(parsed[parsed["elapsed_s"] <= moments[1]].reset_index(drop=True))


def board_at(store: RaceStore, race_id: str, t_s: float) -> pd.DataFrame:
    state = queries.race_state(store, race_id, t_s)
    return views.leaderboard(state.standings, store.table("cars", race_id))


def test_leaderboard(store: RaceStore, race: tuple, moments: tuple[float, float],
                     cut: dict[str, pd.DataFrame]) -> None:
    delayed, replay = moments
    board = board_at(store, race[1], delayed)
    pd.testing.assert_frame_equal(board, board_at(store, race[1], replay))
    assert board["Laps"].sum() < board_at(store, race[1], delayed + DELAY_S)["Laps"].sum()
    # the replay rebuilt from the cut file: the same running order, laps and gaps
    laps = cut["laps"][queries.STANDINGS_LAP_COLUMNS]
    standings, _ = standings_at(prepare_laps(laps, cut["flag_periods"], None), replay)
    rebuilt = views.leaderboard(standings, store.table("cars", race[1]))
    columns = ["Pos", "PIC", "No.", "Laps", "Gap", "Last", "Best", "Pits", "Stint"]
    pd.testing.assert_frame_equal(board[columns], rebuilt[columns])


def test_feed(store: RaceStore, race: tuple, moments: tuple[float, float],
              cut: dict[str, pd.DataFrame]) -> None:
    delayed, replay = moments
    feed = queries.race_feed(store, race[1], until_s=delayed)
    pd.testing.assert_frame_equal(feed, queries.race_feed(store, race[1], until_s=replay))
    everything = queries.race_feed(store, race[1])
    assert feed["t_s"].max() <= replay
    assert len(feed) == int((everything["t_s"] <= replay).sum())
    if replay < everything["t_s"].max():  # mid-race: the delay hides the latest events
        assert len(feed) < len(everything)
    latest = queries.latest_feed(store, race[1], 15, until_s=delayed)
    pd.testing.assert_frame_equal(latest, feed.tail(15).reset_index(drop=True),
                                  check_dtype=False)
    # the feed the cut file derives, for the kinds known when they happen
    rebuilt = race_events(cut["laps"], cut["flag_periods"])
    key = ["t_s", "kind", "number", "lap"]

    def rows(frame: pd.DataFrame) -> list[tuple]:
        kept = frame[frame["kind"].isin(CAUSAL_KINDS)].sort_values(key)
        return [tuple(r) for r in kept[[*key, "text"]].astype(str).to_numpy()]

    assert rows(feed) == rows(rebuilt)


def test_strategy_snapshot(store: RaceStore, race: tuple, moments: tuple[float, float]) -> None:
    delayed, replay = moments
    history = queries.strategy_history(store, race[1])
    snap = queries.strategy_snapshot(store, race[1], delayed, history=history)
    again = queries.strategy_snapshot(store, race[1], replay, history=history)
    assert snap.t_s == again.t_s == replay and snap.flag == again.flag
    pd.testing.assert_frame_equal(snap.cars, again.cars)
    pd.testing.assert_frame_equal(field_rows(snap), field_rows(again))
    seen = store.table("laps", race[1], ["number", "elapsed_s"])
    assert snap.cars["laps"].sum() == int((seen["elapsed_s"] <= replay).sum())


def test_predictions_rows(store: RaceStore, race: tuple, moments: tuple[float, float]) -> None:
    delayed, replay = moments
    finish = queries.race_finish_s(store, race[1])
    shown = queries.prediction_overview(store, race[1], finish, as_of_s=delayed)
    again = queries.prediction_overview(store, race[1], finish, as_of_s=replay)
    for name in ("next_laps", "history", "running", "by_class"):
        pd.testing.assert_frame_equal(getattr(shown, name), getattr(again, name))
    # at now − 60 each car's next lap is the one it is driving then: predicted at the end
    # of its previous lap, not yet completed (the flag is still to come for some cars)
    stored = store.predictions(race[1])
    pending = stored[(stored["made_at_s"] <= replay)
                     & ~((stored["made_at_s"] + stored["actual_s"]) <= replay)]
    pending = pending.groupby("number").tail(1)
    if finish is not None and finish <= replay:
        pending = pending.iloc[:0]
    else:
        assert len(pending) >= 4  # mid-race: most cars are on a predicted lap
    assert sorted(shown.next_laps["number"]) == sorted(pending["number"])
    assert (shown.history["made_at_s"] <= replay).all()
    done = shown.history.dropna(subset=["actual_s"])
    assert ((done["made_at_s"] + done["actual_s"]) <= replay + 1e-6).all()


def test_lap_chart_data(store: RaceStore, race: tuple, moments: tuple[float, float],
                        cut: dict[str, pd.DataFrame]) -> None:
    delayed, replay = moments
    history = views.lap_history(store.table("laps", race[1], views.LAP_CHART_COLUMNS))
    shown = timeline.laps_until(history, delayed)
    pd.testing.assert_frame_equal(shown, timeline.laps_until(history, replay))
    rebuilt = views.lap_history(cut["laps"][views.LAP_CHART_COLUMNS])
    key = ["number", "lap_number"]
    columns = [*key, "elapsed_s", "lap_time_s", "position", "class_position", "class_gap_s"]
    pd.testing.assert_frame_equal(
        shown[columns].sort_values(key).reset_index(drop=True),
        rebuilt[columns].sort_values(key).reset_index(drop=True), check_dtype=False)
    periods = store.table("flag_periods", race[1])
    assert (timeline.periods_until(periods, delayed)["end_s"] <= replay).all()
