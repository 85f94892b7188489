"""Pit Wall: the Streamlit frame. Page config, the shared sidebar, navigation over pages/.

Sidebar: race picker (series → event → session), class filter, focus car, followed cars, TV
delay (with a sync button), "Load sample data", live-monitor status, background-video toggle.
Selections reach the pages through ``st.session_state`` (``ui.state.selection()``) and the page
address (``ui.share``: a pasted link opens the same view). Run with ``streamlit run app.py``.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import streamlit as st

from race.errors import RaceDataError, StoreError
from race.monitor import problem_lines, sidebar_lines
from race.present import timeline, views
from race.present.presentation import clock_text, sort_classes
from race.present.share import SharedView, check_view
from ui import data, moment, share
from ui.state import (
    DEEP_LINK_KEY,
    REPLICA_NOTE,
    SELECTION_KEY,
    Selection,
    get_live_monitor,
    get_store,
    is_replica,
    settings,
)
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


def pick_race(path: str, version: int, link: SharedView | None = None) -> str | None:
    """Series → event → session pickers; the newest import is the default, a link's
    ``race`` when it names a stored race."""
    choices = data.race_choices(path, version)
    if link is not None and link.race is not None:
        checked, warnings = check_view(link, races=choices["race_id"])
        for line in warnings:
            share.warn(line)
        if checked.race is not None and "pw_pending_race" not in st.session_state:
            st.session_state["pw_pending_race"] = checked.race
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
                           link: SharedView | None = None,
                           ) -> tuple[tuple[str, ...], str | None, tuple[str, ...]]:
    """Class filter (none picked = all classes), the focus car highlighted everywhere and the
    followed cars (starred: bold with ★ everywhere, a toast when they pit …). A link's
    classes, focus and stars go into the widgets' state first (what this race lacks is
    named in a warning and left out)."""
    cars = data.table(path, race_id, version, "cars")
    class_options = sort_classes(cars["class"])
    car_options = views.car_options(cars)
    if link is not None:
        checked, warnings = check_view(link, classes=class_options, cars=car_options)
        for line in warnings:
            share.warn(line)
        if checked.classes:
            st.session_state["pw_classes"] = list(checked.classes)
        if checked.focus is not None:
            st.session_state["pw_focus"] = checked.focus
        if checked.follow:
            st.session_state["pw_follow"] = list(checked.follow)
    stars = st.session_state.get("pw_follow") or []
    if any(n not in car_options for n in stars):  # stars of another race
        st.session_state["pw_follow"] = [n for n in stars if n in car_options]
    classes = st.multiselect("Classes", class_options, key="pw_classes",
                             placeholder="All classes")
    labels = views.car_labels(cars)
    focus = st.selectbox("Focus car", [None, *car_options], key="pw_focus",
                         format_func=lambda n: "none" if n is None else labels.get(n, n),
                         help="Highlighted in every table and chart.")
    followed = st.multiselect(
        "Followed cars", car_options, key="pw_follow", format_func=lambda n: labels.get(n, n),
        placeholder="Star cars to follow",
        help="Bold with ★ in every table and chart; a toast on the Live page when one pits, "
             "leaves the pits, changes class position, sets a class fastest lap or gets an "
             "alert. Kept in the page address.")
    return tuple(classes), focus, tuple(followed)


def sync_delay(path: str, race_id: str, version: int) -> None:
    """The Sync button: the delay that puts the chosen car's last crossing at "now"."""
    number = st.session_state.get("pw_sync_car")
    if number is None:
        return
    now = moment.now_s(path, race_id, version)
    last = moment.last_crossing_s(path, race_id, version, number)
    delay = timeline.sync_delay_s(now, last)
    st.session_state["pw_delay"] = delay
    st.session_state["pw_sync_note"] = (delay, (
        f"#{number} has no crossing yet: delay 0 s." if last is None else
        f"Delay {delay} s: #{number} crossed the line at {clock_text(last)}"
        + (" (clamped to 0–180 s)." if delay in (0, timeline.MAX_DELAY_S) else ".")))


def pick_delay(path: str, race_id: str, version: int, focus: str | None,
               link: SharedView | None = None) -> tuple[int, float, float | None]:
    """TV delay (0–180 s) and its sync: (delay, race time now, the moment the views show)."""
    if link is not None and link.delay_s is not None:
        st.session_state["pw_delay"] = link.delay_s
    delay = int(st.number_input(
        "TV delay (s)", min_value=0, max_value=timeline.MAX_DELAY_S, step=5, key="pw_delay",
        help="Every view (board, banner, feed, toasts, charts, strategy, predictions) shows "
             "the race as it was this many seconds ago, to match a delayed broadcast. Kept in "
             "the page address."))
    cars = data.table(path, race_id, version, "cars")
    labels = views.car_labels(cars)
    options = views.car_options(cars)
    with st.expander("Sync with the TV", icon=":material/live_tv:"):
        if options:
            if st.session_state.get("pw_sync_car") not in options:
                st.session_state["pw_sync_car"] = focus if focus in options else options[0]
            st.selectbox("Car on TV", options, key="pw_sync_car",
                         format_func=lambda n: labels.get(n, n))
            st.button("Sync: this car is crossing the line on TV now", key="pw_sync",
                      on_click=sync_delay, args=(path, race_id, version), width="stretch",
                      help="Tap when the broadcast shows the car crossing the line: the "
                           "delay becomes now − its last stored crossing (0–180 s).")
        # What the last sync did, until the delay is changed by hand.
        synced, note = st.session_state.get("pw_sync_note") or (None, "")
        if synced == delay:
            st.caption(note)
    now = moment.now_s(path, race_id, version)
    as_of = timeline.as_of_s(now, delay)
    if as_of is not None:
        st.caption(timeline.delay_caption(as_of, now))
    return delay, now, as_of


def load_sample_button(path: str) -> None:
    """Generate a sample race, import it with a progress bar, then select it (disabled in
    a read-only replica)."""
    replica = is_replica()
    if not st.button("Load sample data", icon=":material/playlist_add:", width="stretch",
                     disabled=replica,
                     help=REPLICA_NOTE if replica else
                     "Generate a 6-hour WEC-style race and import it."):
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


def live_poll_lines(path: str, version: int) -> None:
    """The live races' last poll, read from the store (the monitor runs in another process,
    or none does): its state, age and result, and any feed not understood."""
    status = views.monitor_status(data.live_states(path, version))
    for line in status.problems:
        st.error(line, icon=":material/running_with_errors:")
    if status.last_poll_at is None:
        st.caption(":material/sensors_off: Live monitor: not running")
        return
    age = (datetime.now(UTC).replace(tzinfo=None) - status.last_poll_at).total_seconds()
    state = "live" if status.running else "idle"
    st.caption(f":material/sensors: Live monitor: **{state}** · last poll {clock_text(age)} ago "
               f"({status.last_status}) · {status.polls} polls")


@st.fragment(run_every="5s")
def render_replica_status(path: str) -> None:
    """A replica's sidebar line, every 5 s (one refresh of the Live page): the data version
    of the snapshot it shows and how long ago the publisher wrote it, then the publisher's
    last poll."""
    version = data.data_version(path)  # switches to a newer snapshot when there is one
    snapshot = getattr(get_store(path), "snapshot", None)
    age = "" if snapshot is None else \
        f" · published {max(0.0, time.time() - snapshot.published_unix):.0f} s ago"
    st.caption(f":material/sync: Read-only replica · data version {version}{age}",
               help=REPLICA_NOTE)
    live_poll_lines(path, version)


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
    live_poll_lines(path, data.data_version(path))


def store_unavailable(message: str) -> None:
    """The only page when the database cannot be opened."""
    st.error(message, icon=":material/lock:")


def main() -> None:
    st.set_page_config(page_title="Pit Wall", page_icon=":material/sports_score:",
                       layout="wide")
    path = str(settings().store_path)  # a replica's snapshot folder, else the database
    try:
        version = data.data_version(path)  # opens the store (StoreError: held elsewhere)
    except StoreError as exc:
        message = f"{exc}\n\n{what_to_do(exc)}"
        st.navigation([st.Page(lambda: store_unavailable(message), title="Pit Wall",
                               url_path="unavailable")]).run()
        return
    nav = st.navigation([st.Page(p, title=t, icon=i, default=(t == "Live"))
                         for p, t, i in PAGES])
    deep_link = st.session_state.pop(DEEP_LINK_KEY, None)
    if deep_link in {p for p, _, _ in PAGES}:  # a shared link opened on a fresh server
        st.switch_page(deep_link, query_params=st.query_params.to_dict())
    race_id, classes, focus, followed = None, (), None, ()
    delay, now, as_of = 0, 0.0, None
    with st.sidebar:
        flash = st.session_state.pop("pw_flash", None)
        if flash:
            st.success(flash)
        with guard():
            link = share.incoming()
            race_id = pick_race(path, version, link)
            if race_id is not None:
                classes, focus, followed = pick_classes_and_focus(path, race_id, version, link)
                delay, now, as_of = pick_delay(path, race_id, version, focus, link)
            share.write(SharedView(race_id, classes, focus, followed, delay))
        load_sample_button(path)
        if is_replica():
            render_replica_status(path)
        else:
            render_monitor_status(path)
        video = settings().background_video
        show_video = st.toggle("Background video", value=True, key="pw_video",
                               disabled=not video.is_file(),
                               help=f"Plays {video} behind the dashboard when the file exists.")
    st.session_state[SELECTION_KEY] = Selection(path, race_id, classes, focus, version,
                                                followed, delay, now, as_of)
    background_video(video, show_video)
    with guard():
        nav.run()


main()
