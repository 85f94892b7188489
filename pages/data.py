"""Data: import official timing files, list and delete races, export, ingest log."""

from __future__ import annotations

import streamlit as st

from race.errors import RaceDataError
from race.live.replay import parse_speed
from race.monitor import problem_lines, sidebar_lines
from race.present import views
from race.store import EXPORTABLE
from ui import data
from ui.download import download_past_races
from ui.state import REPLICA_NOTE, get_live_monitor, is_replica, selection
from ui.widgets import empty_state, styled_table, what_to_do

sel = selection()
store = sel.store
replica = is_replica()  # read-only: every button that writes is disabled, and says why
st.subheader("Data", anchor=False)
if replica:
    st.info(REPLICA_NOTE, icon=":material/lock:")

# -- import ----------------------------------------------------------------------------------
st.markdown("**Import official lap files** — WEC *Analysis* or IMSA *Time Cards* CSV; results "
            "and weather files in the same folder come along.")
upload_tab, folder_tab = st.tabs(["Upload files", "Folder on the server"])
with upload_tab:
    uploads = st.file_uploader("Lap files (CSV)", type=["csv"], accept_multiple_files=True,
                               key="pw_uploads")
with folder_tab:
    folder = st.text_input("Folder path", key="pw_folder",
                           placeholder="/path/to/results/2024/le-mans-24h")
series_col, event_col, year_col = st.columns(3)
series = series_col.selectbox("Series", ["detect", "WEC", "IMSA"], key="pw_import_series")
event = event_col.text_input("Event name", key="pw_import_event",
                             placeholder="from the file or folder name",
                             help="Needed when a file is called e.g. laps.csv.")
year = year_col.number_input("Year", min_value=1950, max_value=2100, value=None, step=1,
                             key="pw_import_year", placeholder="from the name")
if st.button("Import", type="primary", key="pw_import", disabled=replica,
             help=REPLICA_NOTE if replica else None):
    try:
        items: list[tuple[str, bytes | None]] = [(f.name, f.getvalue()) for f in uploads or []]
        if folder.strip():
            items += [(str(p), None) for p in views.lap_files_in_folder(folder.strip())]
    except RaceDataError as exc:
        st.error(f"{exc}\n\n{what_to_do(exc)}")
        items = []
    if not items and not folder.strip():
        st.warning("Choose one or more CSV files, or type a folder path, then click Import.")
    elif items:
        bar = st.progress(0.0, text="starting")
        outcomes = views.import_files(
            store, items, series=None if series == "detect" else series,
            event=event.strip() or None, year=int(year) if year else None,
            progress=lambda f, t: bar.progress(min(1.0, f), text=t))
        st.session_state["pw_import_outcomes"] = views.outcomes_table(outcomes)
        done = [o.race_id for o in outcomes if o.ok]
        if done:
            st.session_state["pw_pending_race"] = done[-1]
        st.rerun()
outcomes = st.session_state.get("pw_import_outcomes")
if outcomes is not None:
    failed = int(outcomes["Result"].eq("error").sum())
    (st.error if failed else st.success)(
        f"{len(outcomes) - failed} of {len(outcomes)} file(s) imported"
        + (": see the message of each failed file below." if failed else "."))
    styled_table(outcomes, list(outcomes.columns), pinned=(),
                 height=views.table_height_px(len(outcomes)), key="pw-import-outcomes")

# -- past races from the results portals -----------------------------------------------------
download_past_races(store, sel.db_path, read_only=replica)

# -- races -----------------------------------------------------------------------------------
st.markdown("**Races in the database**")
races = data.races(sel.db_path, sel.version)
names = views.race_names(races)
# Every race picker of this page starts on the race selected in the sidebar, and follows it
# when the sidebar selection changes.
if st.session_state.get("pw_data_selected") != sel.race_id:
    st.session_state["pw_data_selected"] = sel.race_id
    for picker in ("pw_delete_race", "pw_export_race", "pw_replay_race"):
        st.session_state.pop(picker, None)
if races.empty:
    empty_state("No race yet: click **Load sample data** in the sidebar, or import files above.")
else:
    race_rows = views.races_table(races)
    styled_table(race_rows, views.RACES_TABLE_COLUMNS, pinned=(),
                 height=views.table_height_px(len(race_rows)), key="pw-races")
    ids = races["race_id"].tolist()
    here = views.default_index(ids, sel.race_id)  # the race picked in the sidebar
    delete_col, export_col = st.columns(2)
    with delete_col:
        st.markdown("**Delete a race**")
        victim = st.selectbox("Race to delete", ids, index=here,
                              key="pw_delete_race",
                              format_func=lambda r: names.get(r, r))
        sure = st.checkbox(f"Yes, delete {names.get(victim, victim)} and all its laps",
                           key="pw_delete_confirm", disabled=replica)
        if st.button("Delete", disabled=replica or not sure, key="pw_delete",
                     help=REPLICA_NOTE if replica else None):
            views.delete_race(store, victim)
            st.session_state.pop("pw_delete_confirm", None)
            st.rerun()
    with export_col:
        st.markdown("**Export a race**")
        chosen = st.selectbox("Race", ids, index=here, key="pw_export_race",
                              format_func=lambda r: names.get(r, r))
        table_col, fmt_col = st.columns(2)
        table = table_col.selectbox("Table", EXPORTABLE, key="pw_export_table")
        fmt = fmt_col.radio("Format", ["csv", "parquet"], horizontal=True, key="pw_export_fmt")
        st.download_button(
            f"Download {table}.{fmt}", key="pw_export",
            data=lambda: views.export_bytes(store, chosen, table, fmt),
            file_name=f"{chosen}-{table}.{fmt}",
            mime="text/csv" if fmt == "csv" else "application/vnd.apache.parquet")

# -- ingest log ------------------------------------------------------------------------------
st.markdown("**Ingest log** — every import, backfill, deletion and failed poll, newest first "
            "(successful polls: see the live races below).")
log_rows = data.ingest_log(sel.db_path, sel.version)
if log_rows.empty:
    empty_state("Nothing ingested yet.")
else:
    log_table = views.ingest_log_rows(log_rows)
    styled_table(log_table, list(log_table.columns), pinned=(),
                 height=views.table_height_px(len(log_table)), key="pw-ingest-log")
live_rows = data.live_states(sel.db_path, sel.version)
if not live_rows.empty:
    st.markdown("**Races followed live** — last poll and its result, polls stored and failed.")
    for line in views.live_problems(live_rows):
        st.error(line, icon=":material/running_with_errors:")
    live_table = views.live_state_rows(live_rows)
    styled_table(live_table, list(live_table.columns), pinned=(), decimals={"Race clock (s)": 0},
                 height=views.table_height_px(len(live_table)), key="pw-live-states")

# -- live feeds and replays (race.monitor) ---------------------------------------------------
st.markdown("**Live feeds and replays** — the monitor follows the races of the calendar by "
            "itself; follow any feed by hand, or replay a stored race as if it were live.")
monitor = get_live_monitor(sel.db_path)
if replica:
    st.info("The publisher follows the live feeds and plays the replays; this replica shows "
            "what it stores, a few seconds later. On the publisher's machine: `python -m race "
            "monitor --publish DIR`, or `python -m race replay RACE --publish DIR`.",
            icon=":material/sync:")
elif monitor is None:
    st.info("The live monitor is off ($RACE_MONITOR=off). From a terminal: "
            "`python -m race live …`, `python -m race replay …`, `python -m race monitor`.",
            icon=":material/sensors_off:")
else:
    monitor_now = monitor.status()
    for line in sidebar_lines(monitor_now):
        st.caption(line)
    for line in problem_lines(monitor_now):
        st.error(line, icon=":material/running_with_errors:")
    follow_col, replay_col = st.columns(2)
    with follow_col:
        st.markdown("Follow a live feed")
        source = st.radio("Feed", ["wec", "imsa"], horizontal=True, key="pw_live_source",
                          format_func=lambda s: {"wec": "WEC live JSON",
                                                 "imsa": "IMSA live scoring"}[s])
        url = st.text_input("Feed URL", key="pw_live_url",
                            placeholder="https://…/data.json or …/RaceResults_JSONP.json")
        flag_url = st.text_input("RaceData URL (IMSA flag)", key="pw_live_flag_url",
                                 disabled=source != "imsa")
        live_event = st.text_input("Event name", key="pw_live_event",
                                   placeholder="from the feed")
        start = st.button("Start following", key="pw_live_start")
        if start and not url.strip():
            st.warning("Type the feed's URL first.")
        elif start:
            try:
                key = monitor.start_tracking(source, url.strip(),
                                             flag_url=flag_url.strip() or None,
                                             event=live_event.strip() or None)
                st.success(f"Following {url.strip()} ({key}): the race appears in the race "
                           "picker after its first poll.")
            except RaceDataError as exc:
                st.error(f"{exc}\n\n{what_to_do(exc)}")
        for followed in monitor.status()["following"]:
            name = followed["race_id"] or followed["key"]
            if st.button(f"Stop following {name}", key=f"pw_live_stop_{followed['key']}"):
                monitor.stop_tracking(followed["key"])
                st.rerun()
    with replay_col:
        st.markdown("Replay a stored race")
        stored = [r for r in races["race_id"].tolist() if not r.startswith("replay-")] \
            if not races.empty else []
        to_replay = st.selectbox("Race to replay", stored,
                                 index=views.default_index(stored, sel.race_id),
                                 key="pw_replay_race",
                                 format_func=lambda r: names.get(r, r))
        speed = st.select_slider("Speed (× real time)", ["1", "10", "100", "1000", "max"],
                                 value="100", key="pw_replay_speed")
        if st.button("Start replay", key="pw_replay_start", disabled=not stored):
            replay_id = monitor.start_replay(to_replay, parse_speed(speed))
            st.session_state["pw_pending_race"] = replay_id
            st.rerun()
        for item in monitor.status()["replays"]:
            replay = monitor.replay(item["race_id"])
            if replay is None or item["done"]:
                continue
            pause_col, stop_col = st.columns(2)
            if item["paused"]:
                if pause_col.button("Resume", key=f"pw_replay_resume_{item['race_id']}"):
                    replay.resume()
                    st.rerun()
            elif pause_col.button("Pause", key=f"pw_replay_pause_{item['race_id']}"):
                replay.pause()
                st.rerun()
            if stop_col.button(f"Stop {item['race_id']}", key=f"pw_replay_stop_"
                               f"{item['race_id']}"):
                monitor.stop_replay(item["race_id"])
                st.rerun()
