"""Head-to-head (``race.present.head_to_head``) on our lap fixture, where every lap is known,
on a generated race and on a real 24 h race; the page under ``AppTest``.

The truths are rebuilt here from the rows the fixture writes (``tests.lapfixture.rows``),
not from the module: the gap is B's crossing minus A's at the same lap, laps apart is how
many more laps the car ahead had completed when the other crossed, the delta is B's lap
minus A's, a stop's cost is in-lap + out-lap − 2 × the median clean lap of the 6 before.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import pytest

from race.importer import import_lap_file
from race.present import head_to_head as h2h
from race.present.queries import race_state
from race.present.views import leaderboard
from race.store import RaceStore
from tests import lapfixture
from tests.conftest import REALDATA, requires_realdata
from tests.shown import shown_table
from tests.test_app import _navigation_only, assert_clean, run_app  # noqa: F401

LAPS = 20  # car 23 (GTD, 9 s a lap slower) is lapped by car 01 in the second half


def _ms_to_s(text: str) -> float:
    return lapfixture._ms(text) / 1000


@pytest.fixture(scope="module")
def fixture_race(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("h2h")
    (folder / "laps.csv").write_bytes(lapfixture.lap_file(LAPS))
    db = folder / "race.duckdb"
    with RaceStore(db) as store:
        race_id = import_lap_file(store, folder / "laps.csv").race_id
        tables = {name: store.table(name, race_id) for name in ("stints", "pit_stops", "cars")}
        laps = store.table("laps", race_id, h2h.LAP_COLUMNS)
        board = leaderboard(race_state(store, race_id).standings, tables["cars"])
    return {"db": db, "race_id": race_id, "laps": laps, "board": board, **tables}


def _rows(number: str) -> list[dict[str, str]]:
    return [r for r in lapfixture.rows(LAPS) if r["NUMBER"] == number]


def _crossings(number: str) -> list[float]:
    return [_ms_to_s(r["ELAPSED"]) for r in _rows(number)]


def _compare(race: dict, a: str, b: str) -> h2h.HeadToHead:
    return h2h.compare(race["laps"], race["stints"], race["pit_stops"], a, b)


# -- gap -------------------------------------------------------------------------------------
def test_gap_is_b_crossing_minus_a_crossing_and_positive_when_a_leads(fixture_race) -> None:
    result = _compare(fixture_race, "01", "7")
    a, b = _crossings("01"), _crossings("7")
    expected = [round(y - x, 3) for x, y in zip(a, b, strict=True)]
    assert result.gap["gap_s"].tolist() == pytest.approx(expected, abs=1e-6)
    assert result.gap["lap_number"].tolist() == list(range(1, LAPS + 1))
    # > 0 exactly when A (01) crossed the line first; 7 leads the first two laps
    assert ((result.gap["gap_s"] > 0) == [x < y for x, y in zip(a, b, strict=True)]).all()
    assert expected[0] < 0 and expected[-1] > 0
    assert (result.gap["laps_apart"] == 0).all()
    assert result.gap["t_s"].tolist() == pytest.approx([max(x, y) for x, y in zip(
        a, b, strict=True)])
    assert result.gap["text"].iloc[0] == f"#7 ahead by {-expected[0]:.3f} s"
    assert result.gap["text"].iloc[-1] == f"#01 ahead by {expected[-1]:.3f} s"
    swapped = _compare(fixture_race, "7", "01")
    assert swapped.gap["gap_s"].tolist() == pytest.approx([-g for g in expected], abs=1e-6)
    assert swapped.gap["text"].tolist() == result.gap["text"].tolist()
    assert result.headline.startswith("#01 ahead by") and result.headline.endswith(
        f"after lap {LAPS}")


def test_a_lapped_car_is_counted_in_laps(fixture_race) -> None:
    result = _compare(fixture_race, "01", "23")
    ahead, behind = _crossings("01"), _crossings("23")
    # laps 01 had completed when 23 crossed the line at the end of lap k, minus k
    truth = [sum(1 for t in ahead if t <= behind[k - 1]) - k for k in range(1, LAPS + 1)]
    assert max(truth) >= 1, "the fixture must lap car 23"
    assert result.gap["laps_apart"].tolist() == truth
    lapped = result.gap[result.gap["laps_apart"] >= 1]
    assert lapped["text"].str.fullmatch(r"#01 ahead by \d+ laps?").all()
    assert (result.gap.loc[result.gap["laps_apart"] == 0, "text"]
            .str.fullmatch(r"#01 ahead by [\d:.]+( s)?").all())
    last = result.gap.iloc[-1]
    assert result.headline == f"{last['text']} after lap {LAPS}"
    reverse = _compare(fixture_race, "23", "01")
    assert reverse.gap["laps_apart"].tolist() == [-n for n in truth]
    assert (reverse.gap["gap_s"] < 0).all()


# -- lap deltas ------------------------------------------------------------------------------
def test_lap_delta_is_b_minus_a_and_pit_and_neutralised_laps_are_marked(fixture_race) -> None:
    result = _compare(fixture_race, "01", "7")
    lap_a = [_ms_to_s(r["LAP_TIME"]) for r in _rows("01")]
    lap_b = [_ms_to_s(r["LAP_TIME"]) for r in _rows("7")]
    deltas = result.deltas
    assert deltas["delta_s"].tolist() == pytest.approx(
        [round(y - x, 3) for x, y in zip(lap_a, lap_b, strict=True)], abs=1e-6)
    # the gap grows by each lap's delta
    assert np.diff(result.gap["gap_s"]) == pytest.approx(deltas["delta_s"].iloc[1:], abs=2e-3)
    stop_lap = LAPS // 2  # car 7's in-lap; the out-lap follows
    kinds = dict(zip(deltas["lap_number"], deltas["kind"], strict=True))
    assert kinds[stop_lap] == "pit" and kinds[stop_lap + 1] == "pit"
    assert kinds[LAPS - 2] == "neutralised"  # the FCY lap
    laps = fixture_race["laps"]
    neutral = set(laps.loc[laps["number"].isin(["01", "7"]) & laps["neutralised"],
                           "lap_number"])
    for lap, kind in kinds.items():
        expected = ("pit" if lap in (stop_lap, stop_lap + 1) else
                    "neutralised" if lap in neutral else "green")
        assert kind == expected, lap
    assert list(kinds.values()).count("green") >= LAPS - 6
    line = h2h.delta_summary(deltas, "01", "7")
    green = deltas[deltas["kind"] == "green"]
    assert line.startswith(f"{len(green)} green laps in common: #01 faster on "
                           f"{int((green['delta_s'] > 0).sum())}")


# -- pace, stops, drive time -----------------------------------------------------------------
def test_pace_per_stint_uses_the_stored_clean_laps(fixture_race) -> None:
    pace = h2h.stint_pace(fixture_race["laps"], "7")
    assert pace["Stint"].tolist() == [1, 2]
    assert pace["Driver"].tolist() == ["Cy DOE", "Di ROE"]
    rows = _rows("7")
    stop_lap = LAPS // 2
    stored = fixture_race["laps"].query("number == '7'")
    # clean (DATA.md / ML.md S_clean): not lap 1, not in/out, not neutralised, not a restart
    # lap; neutralised as the import rebuilt the flag periods
    neutral = set(stored.loc[stored["neutralised"], "lap_number"])
    assert neutral  # the FCY laps
    for stint, laps in ((1, range(1, stop_lap + 1)), (2, range(stop_lap + 1, LAPS + 1))):
        clean = [k for k in laps if k != 1 and k not in (stop_lap, stop_lap + 1)
                 and k not in neutral]
        times = [_ms_to_s(rows[k - 1]["LAP_TIME"]) for k in clean]
        s1 = [_ms_to_s(rows[k - 1]["S1_LARGE"]) for k in clean]
        row = pace[pace["Stint"] == stint].iloc[0]
        assert row["Laps"] == len(laps)
        assert row["Clean laps"] == len(clean)
        assert row["Median clean"] == pytest.approx(statistics.median(times), abs=1e-3)
        assert row["Best clean"] == pytest.approx(min(times), abs=1e-3)
        assert row["S1"] == pytest.approx(statistics.median(s1), abs=1e-3)
    stints = fixture_race["stints"].query("number == '7'")
    assert pace["Clean laps"].tolist() == stints["clean_laps"].tolist()
    assert pace["Best clean"].tolist() == pytest.approx(stints["best_clean_lap_s"].tolist())


def test_no_sectors_in_the_source_show_as_missing(fixture_race) -> None:
    laps = fixture_race["laps"].assign(s1_s=np.nan, s2_s=np.nan, s3_s=np.nan)
    assert h2h.has_sectors(fixture_race["laps"]) and not h2h.has_sectors(laps)
    pace = h2h.stint_pace(laps, "01")
    assert pace[["S1", "S2", "S3"]].isna().all().all()
    assert not pace["Median clean"].isna().any()


def test_stops_with_their_cost_and_drive_time(fixture_race) -> None:
    result = _compare(fixture_race, "01", "7")
    assert result.stops["01"].empty
    stops = result.stops["7"]
    assert stops["Stop"].tolist() == [1] and stops["In lap"].tolist() == [LAPS // 2]
    assert stops["Pit time"].tolist() == pytest.approx([71.234])
    assert bool(stops["Driver change"].iloc[0]) and stops["Under"].tolist() == ["green"]
    rows = _rows("7")
    k = LAPS // 2
    before = [_ms_to_s(rows[i - 1]["LAP_TIME"]) for i in range(k - 6, k) if i != 1]
    cost = (_ms_to_s(rows[k - 1]["LAP_TIME"]) + _ms_to_s(rows[k]["LAP_TIME"])
            - 2 * statistics.median(before))
    assert stops["Stop cost"].iloc[0] == pytest.approx(cost, abs=1e-3)
    drive = result.drive["7"]
    assert set(drive["Driver"]) == {"Cy DOE", "Di ROE"}
    assert drive["Drive time"].sum() == pytest.approx(_crossings("7")[-1], abs=1e-3)
    assert drive["Share"].sum() == pytest.approx(1.0, abs=1e-3)


def test_default_pair_is_the_focus_car_and_the_car_ahead(fixture_race) -> None:
    board = fixture_race["board"]
    assert h2h.default_pair(board, "7") == ("7", "01")       # P2 in GTP: the car ahead
    assert h2h.default_pair(board, "01") == ("01", "7")      # the leader: the two leaders
    assert h2h.default_pair(board, "23") == ("23", None)     # alone in its class
    assert h2h.default_pair(board, None) == ("01", "7")      # first class's two leaders
    assert h2h.default_pair(board, None, ("GTD",)) == ("23", None)
    assert h2h.default_pair(board.iloc[:0], "7") == (None, None)


def test_generated_race_pace_per_stint_matches_the_stints_table(tmp_path: Path) -> None:
    from race.sample import load_sample_race

    with RaceStore(tmp_path / "race.duckdb") as store:
        race_id = load_sample_race(store, hours=1.0, seed=4, folder=tmp_path).race_id
        laps = store.table("laps", race_id, h2h.LAP_COLUMNS)
        stints = store.table("stints", race_id)
        stops = store.table("pit_stops", race_id)
    a, b = (str(n) for n in stints.drop_duplicates("number")["number"].iloc[:2])
    result = h2h.compare(laps, stints, stops, a, b)
    for number in (a, b):
        mine = stints[stints["number"] == number].sort_values("stint_number")
        pace = result.pace[number]
        assert pace["Stint"].tolist() == mine["stint_number"].tolist()
        assert pace["Clean laps"].tolist() == mine["clean_laps"].tolist()
        assert pace["Laps"].tolist() == mine["laps"].tolist()
        assert pace["Best clean"].tolist() == pytest.approx(
            mine["best_clean_lap_s"].tolist(), nan_ok=True)
        assert len(result.stops[number]) == len(stops[stops["number"] == number])
    common = min(laps[laps["number"] == a]["lap_number"].max(),
                 laps[laps["number"] == b]["lap_number"].max())
    assert len(result.gap) == common


# -- a real 24 h race ------------------------------------------------------------------------
LE_MANS = REALDATA / "wec" / "2024" / "le-mans-24h" / "laps.csv"


@requires_realdata
@pytest.mark.realdata
def test_real_le_mans_head_to_head(tmp_path: Path) -> None:
    if not LE_MANS.is_file():
        pytest.skip(f"{LE_MANS} is absent")
    with RaceStore(tmp_path / "race.duckdb") as store:
        race_id = import_lap_file(store, LE_MANS).race_id
        laps = store.table("laps", race_id, h2h.LAP_COLUMNS)
        stints = store.table("stints", race_id)
        stops = store.table("pit_stops", race_id)
    # the winner (#50) against a Hypercar on its lap and an LMGT3 car many laps down
    for a, b in (("50", "51"), ("50", "92")):
        result = h2h.compare(laps, stints, stops, a, b)
        car_a = laps[laps["number"] == a].set_index("lap_number")["elapsed_s"]
        car_b = laps[laps["number"] == b].set_index("lap_number")["elapsed_s"]
        common = car_a.index.intersection(car_b.index)
        assert len(result.gap) == len(common)
        assert result.gap["gap_s"].to_numpy() == pytest.approx(
            (car_b[common] - car_a[common]).round(3).to_numpy(), abs=1e-6)
        ahead = np.sort(car_a.to_numpy())
        truth = [int(np.searchsorted(ahead, max(car_b[k], car_a[k]), side="right")) - k
                 if car_b[k] > car_a[k] else 0 for k in common]
        assert result.gap["laps_apart"].clip(lower=0).tolist() == truth
        for number in (a, b):
            mine = stints[stints["number"] == number]
            assert result.pace[number]["Clean laps"].sum() == int(mine["clean_laps"].sum())
            assert result.drive[number]["Drive time"].sum() == pytest.approx(
                float(mine["drive_time_s"].sum()), abs=1e-3)
            assert len(result.stops[number]) == int((stops["number"] == number).sum())
            assert result.stops[number]["Stop cost"].notna().mean() > 0.5
    lapped = h2h.compare(laps, stints, stops, "50", "92")
    assert lapped.gap["laps_apart"].iloc[-1] >= 20  # the winner laps a GT3 car many times
    assert "laps after lap" in lapped.headline


# -- the page --------------------------------------------------------------------------------
def test_page_compares_two_cars_and_says_what_to_do(fixture_race, monkeypatch) -> None:
    at = run_app(fixture_race["db"], monkeypatch, "pages/head_to_head.py")
    assert_clean(at)
    assert at.selectbox(key=f"pw_h2h_a::{fixture_race['race_id']}").value == "01"
    assert at.selectbox(key=f"pw_h2h_b::{fixture_race['race_id']}").value == "7"
    text = " ".join(m.value for m in at.markdown)
    assert "#01 ahead by" in text and "Clean-lap pace per stint" in text
    assert len(at.dataframe) == 4  # summary, pace, stops, drive time (both cars each)
    assert any(c.value == "#01: no pit stop yet." for c in at.caption)  # 01 never stops
    summary, pace, stops, drive = (shown_table(t) for t in at.dataframe)
    assert summary["No."].tolist() == ["01", "7"] and summary["Stops"].tolist() == ["0", "1"]
    assert pace["No."].tolist() == ["01", "7", "7"]  # car A's stints first
    assert pace["Driver"].tolist() == ["Ana SØRENSEN", "Cy DOE", "Di ROE"]
    assert stops["No."].tolist() == ["7"] and stops["Pit time"].tolist() == ["1:11.234"]
    assert set(drive["No."]) == {"01", "7"}
    assert not {"None", "nan", "<NA>"} & set(pace.to_numpy().ravel().tolist())
    at.selectbox(key=f"pw_h2h_b::{fixture_race['race_id']}").set_value("01").run()
    assert_clean(at)
    assert any("Pick two different cars" in i.value for i in at.info)
