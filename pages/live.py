"""Live: flag banner, race clock and the leaderboard by class, refreshed every 5 s."""

from __future__ import annotations

import math
import time

import streamlit as st

from race.present import views
from race.present.model_views import mark_alerts
from race.present.presentation import class_chips_html, clock_text, flag_banner_html
from ui import data, moment
from ui.follow import toast_followed
from ui.state import get_store, selection
from ui.widgets import guard, require_race, styled_table


@st.fragment(run_every="5s")
def live_panel(path: str, race_id: str, t_s: float | None, classes: tuple[str, ...],
               focus: str | None, by_class: bool, columns: tuple[str, ...],
               followed: tuple[str, ...] = (), delay_s: int = 0) -> None:
    """Banner, clock and leaderboard as of ``t_s`` − ``delay_s`` (``t_s`` None = now; no
    delay either: the latest data, followed live); toasts for the followed cars."""
    started, started_cpu = time.perf_counter(), time.process_time()
    with guard():
        version = data.data_version(path)
        # The TV delay moves with the race clock: the moment is worked out on every refresh.
        t_s = moment.as_of_s(path, race_id, version, delay_s, t_s)
        # Cached per data version and inputs: a refresh with no new data reshapes nothing.
        board, flag, at_s, per_class = data.live_board(path, race_id, version, t_s, classes,
                                                       by_class)
        race = data.race_row(path, race_id, version)
        clock = views.race_clock(race, at_s, flag)
        remaining = ("finished" if clock.finished else
                     "" if clock.remaining_s is None else
                     f"remaining {clock_text(clock.remaining_s)}")
        st.html(flag_banner_html(flag, inferred=not bool(race.get("has_flags")),
                                 clock=f"elapsed {clock_text(clock.elapsed_s)}  {remaining}"
                                 + (f"  · TV delay {delay_s} s" if delay_s else "")))
        # "!" on cars with an incident / slow-stop alert in the last 10 minutes.
        alerted = data.fresh_alert_numbers(path, race_id, at_s, get_store(path).write_count)
        if board.empty:
            st.info("No car of the selected classes in this race: clear the class filter "
                    "in the sidebar.", icon=":material/info:")
        else:
            st.html(class_chips_html(per_class))
            # One table (a Styler per class would cost ~20 ms each on every refresh): class
            # blocks fastest class first, or overall order; styled once per content.
            styled_table(mark_alerts(board if by_class else board.sort_values("Pos"), alerted),
                         columns, focus=focus, followed=followed, pinned=("Pos", "No."),
                         height="content", key="pw-board")
        toast_followed(path, race_id, version, followed, t_s)
    st.session_state["pw_live_ms"] = (time.perf_counter() - started) * 1000
    st.session_state["pw_live_cpu_ms"] = (time.process_time() - started_cpu) * 1000


@st.fragment(run_every="5s")
def feed_panel(path: str, race_id: str, t_s: float | None, classes: tuple[str, ...],
               followed: tuple[str, ...] = (), delay_s: int = 0) -> None:
    """The latest 15 events as of ``t_s`` − ``delay_s`` (HTML made once per data version)."""
    started = time.perf_counter()
    with guard():
        st.markdown("**Race feed**")
        version = data.data_version(path)
        t_s = moment.as_of_s(path, race_id, version, delay_s, t_s)
        st.html(data.latest_events_html(path, race_id, version, t_s, classes, followed))
    st.session_state["pw_feed_ms"] = (time.perf_counter() - started) * 1000


@st.fragment(run_every="5s")
def track_panel(path: str, race_id: str, t_s: float | None, classes: tuple[str, ...],
                focus: str | None, followed: tuple[str, ...] = (), delay_s: int = 0) -> None:
    """The track-position ring as of ``t_s`` − ``delay_s`` (None and no delay: the live
    clock now, or the latest crossing); figure made once per data version and race second."""
    started, started_cpu = time.perf_counter(), time.process_time()
    with guard():
        version = data.data_version(path)
        if delay_s:  # the same delayed moment as the board beside it
            t_s = moment.as_of_s(path, race_id, version, delay_s, t_s)
        as_of = data.track_as_of_s(path, race_id, version, t_s)
        cut = data.track_cut_s(path, race_id, version, t_s)
        figure, caption = data.track_ring(path, race_id, version, cut, int(as_of), classes,
                                          focus, followed)
        st.markdown("**Track position**")
        st.plotly_chart(figure, key="pw-ring", config={"displayModeBar": False})
        st.caption(caption)
    st.session_state["pw_ring_ms"] = (time.perf_counter() - started) * 1000
    st.session_state["pw_ring_cpu_ms"] = (time.process_time() - started_cpu) * 1000


sel = selection()
if sel.race_id is None:
    st.subheader("Live", anchor=False)
race_id = require_race(sel)
race = data.race_row(sel.db_path, race_id, sel.version)
st.subheader(views.race_title(race), anchor=False)
# The layout is remembered in the URL (?layout=compact): a phone's bookmark opens compact.
asked = views.layout_from_query(st.query_params.get("layout"))
order_col, layout_col, options_col = st.columns([1, 1, 2], vertical_alignment="bottom")
with order_col:
    by_class = st.segmented_control("Leaderboard", ["By class", "Overall"], default="By class",
                                    key="pw_live_layout") != "Overall"
with layout_col:
    layout = st.segmented_control(
        "Layout", ["full", "compact"], default=asked, key="pw_live_columns",
        format_func=lambda v: {"full": "Full", "compact": "Compact (phone)"}[v],
        help="Compact: Pos, No., Class, Driver, Gap, Int, Last. Kept in the page address.")
    layout = layout or asked
if layout == "full":
    st.query_params.pop("layout", None)
else:
    st.query_params["layout"] = layout
with options_col:
    sectors = st.toggle("Sectors", key="pw_live_sectors", disabled=layout == "compact",
                        help="S1, S2 and S3 of each car's last lap, next to the lap times.")
    replay = st.toggle("Replay an earlier moment", key="pw_replay",
                       help="Look at the race as it stood at any time: the same view as of t.")
t_s = None
# Only a replay needs the race's length; following live, the fragment is the first to load
# the laps after new data arrives (its own timing then includes that).
end_s = data.race_end_s(sel.db_path, race_id, sel.version) if replay else 0.0
if end_s > 0:
    minutes = list(range(0, math.ceil(end_s / 60) + 1))
    picked = st.select_slider("Race time", options=minutes, value=minutes[-1],
                              format_func=lambda m: clock_text(m * 60), key="pw_replay_t")
    t_s = min(float(picked) * 60, end_s)
board_area, feed_area = st.columns([3, 1])
with board_area:
    live_panel(sel.db_path, race_id, t_s, sel.classes, sel.focus, by_class,
               tuple(views.leaderboard_columns(layout, sectors)), sel.followed, sel.delay_s)
with feed_area:
    track_panel(sel.db_path, race_id, t_s, sel.classes, sel.focus, sel.followed, sel.delay_s)
    feed_panel(sel.db_path, race_id, t_s, sel.classes, sel.followed, sel.delay_s)
st.caption("Last lap: purple = fastest lap of the race so far, green = the car's best so far. "
           "Gaps in laps when a car is a lap or more down. Times M:SS.mmm; click a column "
           "header to sort. ! before a number: an incident or slow-stop alert in the last "
           "10 minutes (see Anomalies); ★: a followed car (sidebar).")
