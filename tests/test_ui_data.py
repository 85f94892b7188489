"""The pages' cached reads (``ui.data``): a new data version drops the older version's entries,
so a live race polled every 10 s does not keep a copy of its laps per poll."""

from __future__ import annotations

from pathlib import Path

from race.importer import import_lap_file
from tests.lapfixture import lap_file
from ui import data
from ui.state import get_store


def test_a_new_data_version_clears_the_older_versions_entries(tmp_path: Path) -> None:
    path = str(tmp_path / "race.duckdb")
    store = get_store(path)
    before = data.data_version(path)
    assert data.races(path, before).empty  # cached: an empty database
    assert data.races(path, before).empty  # served from the cache
    race_id = import_lap_file(store, tmp_path / "laps.csv", data=lap_file(),
                              series="imsa", event="test", year=2024).race_id
    # Not seen yet: the entry of the older version is still served.
    assert data.races(path, before).empty
    after = data.data_version(path)
    assert after != before
    # Seen: the older entry is gone (recomputed now, it finds the imported race).
    assert list(data.races(path, before)["race_id"]) == [race_id]
    board, _, _ = data.leaderboard(path, race_id, after, None)
    assert len(board) == 3
    assert data.data_version(path) == after  # unchanged version: nothing cleared
    assert len(data.leaderboard(path, race_id, after, None)[0]) == 3


def test_every_versioned_read_is_cleared() -> None:
    """Each cached read keyed by the data version is in ``VERSIONED`` (and nothing else)."""
    import inspect

    cached = {name: func for name, func in vars(data).items()
              if callable(func) and callable(getattr(func, "clear", None))}
    keyed = {name for name, func in cached.items()
             if "version" in inspect.signature(func).parameters}
    assert keyed == {func.__name__ for func in data.VERSIONED}


def test_kept_tables_and_figures_are_sent_as_fresh_ones() -> None:
    """``ui.render_cache`` keeps Streamlit's marshalling of a Styler and a figure: what a
    rerun sends equals what a fresh build sends, and the kept one is not rebuilt."""
    from streamlit.testing.v1 import AppTest

    def script() -> None:
        import pandas as pd
        import plotly.graph_objects as go
        import streamlit as st

        from ui import render_cache

        def build():
            frame = pd.DataFrame({"No.": ["7", "51"], "Last": [207.1, 210.25]})
            return frame.style.format({"Last": "{:.3f}"}).map(
                lambda v: "color: red" if v == "7" else "")

        builds = st.session_state.setdefault("builds", [])
        kept = render_cache.memo_styler("t", lambda: builds.append(1) or build())
        fresh = build()
        fresh.set_uuid(kept.uuid or "x")
        st.dataframe(kept, key="kept")
        st.dataframe(fresh, key="fresh")
        figure = st.session_state.setdefault(
            "figure", render_cache.memo_figure(go.Figure(go.Bar(x=[1, 2], y=[3, 4]))))
        st.plotly_chart(figure, key="kept-chart")
        st.plotly_chart(go.Figure(go.Bar(x=[1, 2], y=[3, 4])), key="fresh-chart")

    at = AppTest.from_function(script)
    for _ in range(3):
        at.run()
        assert not at.exception
        kept, fresh = at.dataframe
        assert kept.proto.arrow_data.styler.display_values == \
            fresh.proto.arrow_data.styler.display_values
        assert list(kept.proto.arrow_data.styler.styles) == \
            list(fresh.proto.arrow_data.styler.styles)
        assert kept.proto.arrow_data.data == fresh.proto.arrow_data.data
        charts = [e for e in at.main if e.type == "plotly_chart"]
        assert charts[0].proto.spec == charts[1].proto.spec
    assert at.session_state["builds"] == [1]  # built once, sent three times


def test_fast_styler_marshalling_equals_streamlits(tmp_path: Path) -> None:
    """``render_cache.fast_marshall_styler`` writes the very proto Streamlit's own
    ``marshall_styler`` writes, on the leaderboard, pit-stop and drive-time tables of a race
    (missing values, focus row, class colours, purple / green laps)."""
    from streamlit.elements.lib.pandas_styler_utils import marshall_styler
    from streamlit.proto.ArrowData_pb2 import ArrowData as Arrow

    from race.present import views
    from race.present.queries import race_state
    from race.sample import load_sample_race
    from race.store import RaceStore
    from ui import render_cache
    from ui.widgets import _styler

    with RaceStore(tmp_path / "race.duckdb") as store:
        race_id = load_sample_race(store, hours=1.0, seed=3, folder=tmp_path).race_id
        state = race_state(store, race_id, 1800.0)
        cars = store.table("cars", race_id)
        board = views.leaderboard(state.standings, cars)
        tables = [
            (board, views.LEADERBOARD_COLUMNS, views.TIME_COLUMNS, (), ()),
            (views.pit_stop_rows(store.table("pit_stops", race_id), cars),
             ["No.", "Class", "Team", "Stop", "In lap", "Race time", "Pit time", "Under"],
             ("Pit time",), ("Race time",), ()),
            (views.drive_time_rows(store.table("stints", race_id)),
             ["No.", "Class", "Driver", "Drive time", "Share", "Laps"], (), ("Drive time",),
             ("Share",)),
        ]
    for frame, shown, times, clocks, percents in tables:
        shown = tuple(c for c in shown if c in frame.columns)
        focus = str(frame["number"].iloc[len(frame) // 2])
        for focus_car in (None, focus):
            ours, theirs = Arrow(), Arrow()
            mine, reference = (_styler(frame, shown, focus_car, times, (), clocks, percents, ())
                               .set_uuid("u1") for _ in range(2))
            assert render_cache.fast_marshall_styler(ours, mine, "u1")
            # Streamlit's own (``ui.render_cache`` wraps the name in streamlit.elements.arrow)
            marshall_styler(theirs, reference, "u1")
            assert ours.styler == theirs.styler, shown
    hidden = board.style.hide(axis="columns", subset=["Pos"])
    assert not render_cache.fast_marshall_styler(Arrow(), hidden, "u2")  # not plain: no


def test_memo_call_is_keyed_by_content() -> None:
    import pandas as pd

    from ui import render_cache

    calls: list[int] = []

    def shape(frame: pd.DataFrame, *, focus: str | None) -> int:
        calls.append(1)
        return int(frame["x"].sum())

    render_cache.clear()
    a = pd.DataFrame({"x": [1, 2], "n": ["7", "51"]})
    assert render_cache.memo_call(shape, a, focus=None) == 3
    assert render_cache.memo_call(shape, a.copy(), focus=None) == 3  # same rows: kept
    assert len(calls) == 1
    assert render_cache.memo_call(shape, a, focus="7") == 3  # another argument
    assert render_cache.memo_call(shape, a.assign(x=[1, 5]), focus=None) == 6  # new rows
    assert len(calls) == 3
    assert render_cache.memo_call(shape, {"unhashable": [1]}.get("no") or a, focus=None) == 3
    assert len(calls) == 3
