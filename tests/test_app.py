"""The Streamlit app under ``AppTest``: every page on an empty database, on generated sample
races and on a real 24 h race; sidebar and page widgets; errors shown as ``st.error``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from race.importer import import_lap_file
from race.present.queries import race_state
from race.sample import load_sample_race, write_sample_race
from race.store import RaceStore
from tests.conftest import REALDATA, ROOT, requires_realdata
from tests.shown import shown_table

APP = str(ROOT / "app.py")
PAGES = ["pages/live.py", "pages/laps.py", "pages/head_to_head.py", "pages/stints.py",
         "pages/strategy.py", "pages/predictions.py", "pages/anomalies.py", "pages/data.py"]
LE_MANS = REALDATA / "wec" / "2024" / "le-mans-24h" / "laps.csv"
TIMEOUT = 60


@pytest.fixture(autouse=True)
def _navigation_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every AppTest rerun through app.py, as the server does.

    AppTest forgets between runs that app.py called ``st.navigation`` and, because a
    ``pages/`` folder exists, falls back to Streamlit's old folder mode, which reruns the
    current page file alone (no sidebar, no selection). The server remembers it for the
    life of the process; this restores that behaviour for the test.
    """
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import app_test

    class NavigationPagesManager(PagesManager):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            PagesManager.uses_pages_directory = False

    monkeypatch.setattr(app_test, "PagesManager", NavigationPagesManager)


def run_app(db: Path, monkeypatch: pytest.MonkeyPatch, page: str | None = None, *,
            video: Path | None = None) -> AppTest:
    monkeypatch.setenv("RACE_DB", str(db))
    monkeypatch.setenv("RACE_BACKGROUND_VIDEO", str(video or db.parent / "no-video.mp4"))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    if page is not None and page != "pages/live.py":
        at.switch_page(page)
        at.run()
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two generated races: a 3 h WEC race (selected by default, imported last) and a 2 h
    IMSA race."""
    folder = tmp_path_factory.mktemp("sample")
    db = folder / "race.duckdb"
    with RaceStore(db) as store:
        load_sample_race(store, hours=2.0, seed=5, series="IMSA", folder=folder)
        load_sample_race(store, hours=3.0, seed=2, series="WEC", folder=folder)
    return db


@pytest.fixture(scope="module")
def real_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not LE_MANS.is_file():
        pytest.skip(f"real Le Mans 24 h lap file {LE_MANS} is absent")
    db = tmp_path_factory.mktemp("real") / "race.duckdb"
    with RaceStore(db) as store:
        import_lap_file(store, LE_MANS)
    return db


def selected(at: AppTest):
    return at.session_state["pw_selection"]


# -- every page, three databases -------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_pages_on_empty_database(page: str, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_app(tmp_path / "empty.duckdb", monkeypatch, page)
    assert_clean(at)
    text = " ".join(i.value for i in at.info)
    # Every empty state says what to do next.
    assert "Load sample data" in text


@pytest.mark.parametrize("page", PAGES)
def test_pages_on_sample_race(page: str, sample_db: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_app(sample_db, monkeypatch, page)
    assert_clean(at)
    assert selected(at).race_id == "wec-2025-sample-3h-seed2-race"


@requires_realdata
@pytest.mark.realdata
@pytest.mark.parametrize("page", PAGES)
def test_pages_on_real_24h_race(page: str, real_db: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_app(real_db, monkeypatch, page)
    assert_clean(at)
    assert selected(at).race_id == "wec-2024-le-mans-24h-race"


# -- live leaderboard ------------------------------------------------------------------------
def leaderboard(at: AppTest):
    """The Live page's only table: sortable values, car numbers as shown (text)."""
    values = at.dataframe[0].value
    return values.assign(**{"No.": shown_table(at.dataframe[0])["No."]})


def test_leaderboard_matches_running_order(sample_db: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_app(sample_db, monkeypatch)
    board = leaderboard(at)
    with RaceStore(sample_db) as store:
        state = race_state(store, selected(at).race_id)
    assert len(board) == len(state.standings)
    assert board["Class"].value_counts().to_dict() == \
        state.standings["class"].value_counts().to_dict()
    assert board["No."].dtype != "int64"  # car numbers are text
    chips = " ".join(h.value for h in at.html)
    for cls, count in state.standings["class"].value_counts().items():
        assert f'data-class="{cls}" data-cars="{count}"' in chips
    assert 'data-flag="FF"' in chips  # a finished race shows the chequered flag


def test_race_picker_switches_race(sample_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_app(sample_db, monkeypatch)
    at.selectbox(key="pw_series").set_value("IMSA").run()
    assert_clean(at)
    assert selected(at).race_id == "imsa-2025-sample-2h-seed5-race"
    classes = set(leaderboard(at)["Class"])
    assert classes and not classes & {"HYPERCAR", "LMGT3"}


def test_class_filter_limits_every_page(sample_db: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_app(sample_db, monkeypatch)
    at.multiselect(key="pw_classes").set_value(["LMP2"]).run()
    assert_clean(at)
    assert set(leaderboard(at)["Class"]) == {"LMP2"}
    for page in ("pages/laps.py", "pages/stints.py"):
        at.switch_page(page).run()
        assert_clean(at)
        for frame in at.dataframe:
            assert set(frame.value["Class"]) <= {"LMP2"}


def test_time_slider_shows_the_race_as_of_t(sample_db: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_app(sample_db, monkeypatch)
    at.toggle(key="pw_replay").set_value(True).run()
    at.select_slider(key="pw_replay_t").set_value(60).run()  # 1:00:00 into the race
    assert_clean(at)
    board = leaderboard(at)
    with RaceStore(sample_db) as store:
        state = race_state(store, selected(at).race_id, 3600.0)
    expected = state.standings.set_index("number")["laps"]
    # "! 12": a fresh alert (the Anomalies page runs the detector on opening)
    got = board.assign(**{"No.": board["No."].astype(str).str.removeprefix("! ")}
                       ).set_index("No.")["Laps"]
    assert got.sort_index().tolist() == expected.sort_index().tolist()
    assert 'data-flag="FF"' not in " ".join(h.value for h in at.html)
    assert "elapsed 1:00:00" in " ".join(h.value for h in at.html)


def test_purple_last_lap_right_after_the_fastest_lap(sample_db: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_app(sample_db, monkeypatch)
    with RaceStore(sample_db) as store:
        laps = store.table("laps", selected(at).race_id, ["lap_number", "lap_time_s",
                                                          "elapsed_s"])
    fastest = laps[laps["lap_number"] > 1].sort_values("lap_time_s").iloc[0]
    minute = int(fastest["elapsed_s"] // 60) + 1  # within a lap of the fastest lap
    at.toggle(key="pw_replay").set_value(True).run()
    at.select_slider(key="pw_replay_t").set_value(minute).run()
    assert_clean(at)
    styles = at.dataframe[0].proto.arrow_data.styler.styles
    assert "#7b1fa2" in styles  # purple: fastest lap of the race so far
    assert "#1b873f" in styles  # green: someone's personal best


def test_focus_car_is_highlighted_and_charted(sample_db: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_app(sample_db, monkeypatch)
    focus = leaderboard(at)["No."].iloc[-1]
    at.selectbox(key="pw_focus").set_value(focus).run()
    assert_clean(at)
    assert selected(at).focus == focus
    styles = at.dataframe[0].proto.arrow_data.styler.styles
    assert "rgba(255, 214, 0, 0.16)" in styles  # the focus row's highlight
    at.switch_page("pages/laps.py").run()
    assert_clean(at)
    race_id = selected(at).race_id
    assert focus in at.multiselect(key=f"pw_laps_cars::{race_id}").value


def test_layout_overall_and_full_lap_range(sample_db: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_app(sample_db, monkeypatch)
    at.button_group(key="pw_live_layout").set_value("Overall").run()
    assert_clean(at)
    assert leaderboard(at)["Pos"].tolist() == sorted(leaderboard(at)["Pos"])
    at.switch_page("pages/laps.py").run()
    at.toggle(key="pw_laps_full").set_value(True).run()
    assert_clean(at)


# -- sidebar: sample data, monitor, errors ---------------------------------------------------
def test_load_sample_data_button_selects_the_new_race(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_app(tmp_path / "race.duckdb", monkeypatch)
    at.sidebar.button[0].click().run()
    assert_clean(at)
    assert selected(at).race_id == "wec-2025-sample-6h-seed1-race"
    assert "Sample race loaded" in " ".join(s.value for s in at.sidebar.success)
    assert len(leaderboard(at)) > 10


def test_monitor_status_honest_when_not_running(sample_db: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_app(sample_db, monkeypatch)
    assert any("Live monitor: not running" in c.value for c in at.sidebar.caption)


def test_background_video_only_when_the_file_exists_and_toggled_on(
        sample_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_app(sample_db, monkeypatch)
    assert not at.get("video") and at.toggle(key="pw_video").disabled
    video = tmp_path / "background.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42")  # any bytes: the browser plays it
    at = run_app(sample_db, monkeypatch, video=video)
    assert_clean(at)
    assert len(at.get("video")) == 1
    assert any("opacity:0.4" in h.value for h in at.html)
    at.toggle(key="pw_video").set_value(False).run()
    assert_clean(at)
    assert not at.get("video")


def test_database_held_by_another_process_is_an_error_not_a_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "locked.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('ready', flush=True); time.sleep(60)", str(db)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        at = run_app(db, monkeypatch)
        assert not at.exception
        assert at.error and "in use by another program" in at.error[0].value
        assert "RACE_DB" in at.error[0].value
    finally:
        holder.kill()
        holder.wait()


# -- data page -------------------------------------------------------------------------------
def test_data_page_imports_a_folder_exports_and_deletes(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "files" / "2025" / "spa-6h"
    write_sample_race(folder / "laps.csv", hours=1.0, seed=9)
    at = run_app(tmp_path / "race.duckdb", monkeypatch, "pages/data.py")
    at.text_input(key="pw_folder").set_value(str(tmp_path / "files")).run()
    at.button(key="pw_import").click().run()
    assert_clean(at)
    assert "1 of 1 file(s) imported" in at.success[0].value
    assert selected(at).race_id == "wec-2025-spa-6h-race"
    assert at.download_button(key="pw_export") is not None
    at.checkbox(key="pw_delete_confirm").check().run()
    at.button(key="pw_delete").click().run()
    assert_clean(at)
    assert selected(at).race_id is None
    with RaceStore(tmp_path / "race.duckdb") as store:
        assert store.races().empty
        assert store.ingest_log()["kind"].tolist()[0] == "delete"


def test_data_page_upload_reports_each_file(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    good = write_sample_race(tmp_path / "sebring-12h-2025.csv", hours=1.0, seed=4,
                             series="IMSA").read_bytes()
    at = run_app(tmp_path / "race.duckdb", monkeypatch, "pages/data.py")
    at.file_uploader(key="pw_uploads").set_value([
        ("sebring-12h-2025.csv", good, "text/csv"),
        ("laps.csv", good, "text/csv"),            # the name does not say which event
        ("broken-2025.csv", b"not;a;lap;file\n", "text/csv")])
    at.run()
    at.button(key="pw_import").click().run()
    assert not at.exception
    outcomes = at.session_state["pw_import_outcomes"]
    assert outcomes["Result"].tolist() == ["ok", "error", "error"]
    assert "event" in outcomes["Message"].iloc[1]
    assert "1 of 3 file(s) imported" in at.error[0].value


def test_no_traceback_elements_anywhere_after_time_travel(
        sample_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replay at the very start (no car has crossed the line yet) still renders cleanly."""
    at = run_app(sample_db, monkeypatch)
    at.toggle(key="pw_replay").set_value(True).run()
    at.select_slider(key="pw_replay_t").set_value(0).run()
    assert_clean(at)
    assert (leaderboard(at)["Laps"] == 0).all()



# -- every table finished (issue #13) --------------------------------------------------------
RAW = ("None", "nan", "NaN", "<NA>", "NaT")


def page_text(at: AppTest) -> list[str]:
    """Every word a reader sees: tables' display text, markdown, captions, HTML."""
    words: list[str] = []
    for frame in at.dataframe:
        words += " ".join(shown_table(frame).astype(str).to_numpy().ravel()).split()
        words += [str(c) for c in frame.value.columns]
    for kind in (at.markdown, at.caption, at.html, at.info, at.warning, at.subheader):
        words += " ".join(str(e.value) for e in kind).split()
    return [w.strip(".,:;()") for w in words]


@pytest.mark.parametrize("page", PAGES)
def test_no_raw_none_or_nan_on_any_page(sample_db: Path, monkeypatch: pytest.MonkeyPatch,
                                        page: str) -> None:
    at = run_app(sample_db, monkeypatch, page)
    assert_clean(at)
    words = page_text(at)
    assert not [w for w in words if w in RAW], page
    assert not {"race_id", "has_flags", "imported_at", "from_lap", "in_lap", "S_clean"} & set(
        words), page


def test_strategy_page_tables_show_dashes_not_none(sample_db: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_app(sample_db, monkeypatch, "pages/strategy.py")
    assert_clean(at)
    for frame in at.dataframe:  # the finished race: final stints, stops, drive time
        assert not frame.value.isna().any().any()
    # The pit windows as they stood mid-race (a finished race gets none).
    at.toggle(key="pw_strategy_replay").set_value(True).run()
    at.select_slider(key="pw_strategy_t").set_value(90).run()
    assert_clean(at)
    headers = [c for frame in at.dataframe for c in frame.value.columns]
    assert "P(caution stop)" in headers and "Since last stint" in headers
    for frame in at.dataframe:
        assert not frame.value.isna().any().any()  # a null cell would read "None"


def test_car_numbers_sort_as_numbers(sample_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_app(sample_db, monkeypatch)
    values = at.dataframe[0].value.sort_values("No.")
    shown = shown_table(at.dataframe[0]).loc[values.index, "No."].str.lstrip("! ")
    as_int = [int(n) for n in shown]
    assert as_int == sorted(as_int)  # 2 before 10 before 155, not "10" < "2"


def test_compact_layout_from_the_address(sample_db: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RACE_DB", str(sample_db))
    monkeypatch.setenv("RACE_BACKGROUND_VIDEO", str(sample_db.parent / "no-video.mp4"))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["layout"] = "compact"
    at.run()
    assert_clean(at)
    assert list(at.dataframe[0].value.columns) == ["Pos", "No.", "Class", "Driver", "Gap",
                                                   "Int", "Last"]
    at.button_group(key="pw_live_columns").set_value("full").run()
    assert "layout" not in at.query_params
    columns = list(at.dataframe[0].value.columns)
    assert "Team" in columns and "S1" not in columns  # sectors behind the toggle
    at.toggle(key="pw_live_sectors").set_value(True).run()
    columns = list(at.dataframe[0].value.columns)
    assert columns.index("S1") == columns.index("Best") + 1
    at.button_group(key="pw_live_columns").set_value("compact").run()
    assert at.query_params["layout"] == ["compact"] or at.query_params["layout"] == "compact"


def test_data_page_defaults_to_the_selected_race(sample_db: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_app(sample_db, monkeypatch)
    at.selectbox(key="pw_series").set_value("IMSA").run()
    race_id = selected(at).race_id
    at.switch_page("pages/data.py").run()
    assert_clean(at)
    assert at.selectbox(key="pw_delete_race").value == race_id
    assert at.selectbox(key="pw_export_race").value == race_id
    assert "Sample race" in " ".join(str(o) for o in at.selectbox(key="pw_delete_race").options)
    log = at.dataframe[1].value  # races, then the ingest log
    assert len(log) >= 2 and "Kind" in log.columns
