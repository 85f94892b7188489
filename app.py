"""Pit Wall: the Streamlit frame. Page config, the shared sidebar, navigation over pages/.

Sidebar: race picker (series → event → session), class filter, focus car, "Load sample data",
live-monitor status, background-video toggle. Selections reach the pages through
``st.session_state`` (``ui.state.selection()``). Run with ``streamlit run app.py``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import streamlit as st

from race.errors import RaceDataError, StoreError
from race.monitor import problem_lines, sidebar_lines
from race.present import views
from race.present.presentation import clock_text, sort_classes
from ui import data
from ui.state import SELECTION_KEY, Selection, get_live_monitor, get_store, settings
from ui.widgets import background_video, guard, what_to_do

log = logging.getLogger(__name__)

PAGES = [
    # Material icons ship with Streamlit (emoji need a font the browser may lack).
    ("pages/live.py", "Live", ":material/sports_score:"),
    ("pages/feed.py", "Race feed", ":material/dynamic_feed:"),
    ("pages/laps.py", "Laps", ":material/timer:"),
    ("pages/head_to_head.py", "Head-to-head", ":material/compare_arrows:"),
    ("pages/stints.py", "Stints & pits", ":material/tire_repair:"),
    ("pages/strategy.py", "Strategy", ":material/route:"),
    ("pages/predictions.py", "Predictions", ":material/insights:"),
    ("pages/anomalies.py", "Anomalies", ":material/report:"),
    ("pages/data.py", "Data", ":material/database:"),
]


def pick_race(path: str, version: int) -> str | None:
    """Series → event → session pickers; the newest import is the default."""
    choices = data.race_choices(path, version)
    if choices.empty:
        st.info("No race yet: click **Load sample data** below, or import official timing "
                "files on the **Data** page.")
        return None
    pending = st.session_state.pop("pw_pending_race", None)
    if pending in set(choices["race_id"]):
        row = choices[choices["race_id"] == pending].iloc[0]
        st.session_state["pw_series"] = row["series"]
        st.session_state["pw_event"] = row["event_label"]
        st.session_state["pw_session"] = row["session"]
    series = st.selectbox("Series", list(dict.fromkeys(choices["series"])), key="pw_series")
    in_series = choices[choices["series"] == series]
    event = st.selectbox("Event", list(dict.fromkeys(in_series["event_label"])),
                         key="pw_event")
    in_event = in_series[in_series["event_label"] == event]
    session = st.selectbox("Session", list(dict.fromkeys(in_event["session"])),
                           key="pw_session")
    return str(in_event.loc[in_event["session"] == session, "race_id"].iloc[0])


def pick_classes_and_focus(path: str, race_id: str, version: int,
                           ) -> tuple[tuple[str, ...], str | None]:
    """Class filter (none picked = all classes) and the focus car highlighted everywhere."""
    cars = data.table(path, race_id, version, "cars")
    classes = st.multiselect("Classes", sort_classes(cars["class"]), key="pw_classes",
                             placeholder="All classes")
    labels = views.car_labels(cars)
    focus = st.selectbox("Focus car", [None, *views.car_options(cars)], key="pw_focus",
                         format_func=lambda n: "none" if n is None else labels.get(n, n),
                         help="Highlighted in every table and chart.")
    return tuple(classes), focus


def load_sample_button(path: str) -> None:
    """Generate a sample race, import it with a progress bar, then select it."""
    if not st.button("Load sample data", icon=":material/playlist_add:", width="stretch",
                     help="Generate a 6-hour WEC-style race and import it."):
        return
    try:
        from race.sample import load_sample_race
    except ModuleNotFoundError as exc:
        if exc.name != "race.sample":
            raise
        st.warning("The sample-race generator is not available in this version. Import "
                   "official timing files on the **Data** page instead.")
        return
    with st.status("Generating a sample race…", expanded=True) as status:
        bar = st.progress(0.0, text="starting")

        def progress(fraction: float, text: str) -> None:
            bar.progress(min(1.0, max(0.0, float(fraction))), text=text)

        try:
            result = load_sample_race(get_store(path), progress=progress)
        except RaceDataError as exc:
            status.update(label="Sample data failed", state="error")
            st.error(f"{exc}\n\n{what_to_do(exc)}")
            return
        status.update(label=f"Sample race loaded: {result.race_id}", state="complete")
    st.session_state["pw_pending_race"] = result.race_id
    st.session_state["pw_flash"] = (
        "The sample race was already loaded: selected it." if result.unchanged else
        f"Sample race loaded: {result.laps} laps, {result.cars} cars.")
    st.rerun()


def model_line(path: str) -> None:
    """The model's state when no monitor reports it (``race.models.training``)."""
    from race.models.training import get_trainer, status_line

    st.caption(f":material/model_training: "
               f"{status_line(get_trainer(get_store(path), settings().models_dir).status())}")


@st.fragment(run_every="15s")
def render_monitor_status(path: str) -> None:
    """Live monitor: state, next race with countdown, last poll time and result of each race
    followed, last error (``race.monitor``); with the monitor off, the live races' last polls
    (another process may be polling)."""
    monitor = get_live_monitor(path)
    if monitor is not None:
        current = monitor.status()
        first, *rest = sidebar_lines(current)
        st.caption(f":material/sensors: {first}")
        for line in rest:
            st.caption(line)
        for line in problem_lines(current):  # a feed not understood is never silent
            st.error(line, icon=":material/running_with_errors:")
        return
    model_line(path)
    status = views.monitor_status(data.live_states(path, data.data_version(path)))
    for line in status.problems:
        st.error(line, icon=":material/running_with_errors:")
    if status.last_poll_at is None:
        st.caption(":material/sensors_off: Live monitor: not running")
        return
    age = (datetime.now(UTC).replace(tzinfo=None) - status.last_poll_at).total_seconds()
    state = "live" if status.running else "idle"
    st.caption(f":material/sensors: Live monitor: **{state}** · last poll {clock_text(age)} ago "
               f"({status.last_status}) · {status.polls} polls")


def store_unavailable(message: str) -> None:
    """The only page when the database cannot be opened."""
    st.error(message, icon=":material/lock:")


def main() -> None:
    st.set_page_config(page_title="Pit Wall", page_icon=":material/sports_score:",
                       layout="wide")
    path = str(settings().db_path)
    try:
        version = data.data_version(path)  # opens the store (StoreError: held elsewhere)
    except StoreError as exc:
        message = f"{exc}\n\n{what_to_do(exc)}"
        st.navigation([st.Page(lambda: store_unavailable(message), title="Pit Wall",
                               url_path="unavailable")]).run()
        return
    nav = st.navigation([st.Page(p, title=t, icon=i, default=(t == "Live"))
                         for p, t, i in PAGES])
    race_id, classes, focus = None, (), None
    with st.sidebar:
        flash = st.session_state.pop("pw_flash", None)
        if flash:
            st.success(flash)
        with guard():
            race_id = pick_race(path, version)
            if race_id is not None:
                classes, focus = pick_classes_and_focus(path, race_id, version)
        load_sample_button(path)
        render_monitor_status(path)
        video = settings().background_video
        show_video = st.toggle("Background video", value=True, key="pw_video",
                               disabled=not video.is_file(),
                               help=f"Plays {video} behind the dashboard when the file exists.")
    st.session_state[SELECTION_KEY] = Selection(path, race_id, classes, focus, version)
    background_video(video, show_video)
    with guard():
        nav.run()


main()
