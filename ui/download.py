"""The Data page's *Download past races* section (``race.sources.portal``)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from race.errors import FetchError, RaceDataError
from race.sources.portal import (
    PORTALS,
    PortalRace,
    PortalRefused,
    download_and_import,
    list_season,
    portal_fetcher,
)
from race.store import RaceStore

LISTED_KEY = "pw_portal_races"


def _outcomes_frame(outcomes: list) -> pd.DataFrame:
    return pd.DataFrame([{
        "Event": o.race.event, "Date": o.race.date,
        "Result": ("error" if not o.ok else "unchanged" if o.unchanged else "imported"),
        "Race": o.race_id or "—", "Laps": o.laps if o.ok else None,
        "Files": ", ".join(o.files) or "—",
        "Message": o.error or "; ".join(o.warnings) or "—"} for o in outcomes])


def _refused(exc: FetchError) -> None:
    if isinstance(exc, PortalRefused):
        st.error(f"**The results portal refused this app.** {exc}", icon=":material/block:")
    else:
        st.error(f"**The results portal cannot be reached.** {exc}\n\nCheck the network "
                 "(or the portal URL) and try again.", icon=":material/cloud_off:")


def download_past_races(store: RaceStore, db_path: str, *, read_only: bool = False) -> None:
    """List a season's races on the official results portal, then download and import the
    chosen ones, with a progress bar (``read_only``: a replica; the buttons are disabled,
    the publisher fetches)."""
    st.markdown("**Download past races** — from the official results portals (IMSA *Time "
                "Cards*, WEC *Analysis*); results and weather files come along. About one "
                "request a second: listing a season takes a minute.")
    series_col, season_col, event_col = st.columns([1, 1, 2])
    series = series_col.radio("Series", ["imsa", "wec"], horizontal=True,
                              key="pw_portal_series", format_func=str.upper)
    season = season_col.number_input("Season", min_value=2014,
                                     max_value=datetime.now(UTC).year,
                                     value=datetime.now(UTC).year - 1, step=1,
                                     key="pw_portal_season")
    event = event_col.text_input("Events (optional)", key="pw_portal_event",
                                 placeholder="e.g. sebring|daytona",
                                 help="A regular expression the event's name must contain.")
    with st.expander("Portal address"):
        base_url = st.text_input("Results folder URL", value=PORTALS[series],
                                 key=f"pw_portal_url_{series}")
    if st.button("List races", key="pw_portal_list", disabled=read_only):
        bar = st.progress(0.0, text="listing the season")
        try:
            races = list_season(series, int(season), fetcher=portal_fetcher(),
                                base_url=base_url.strip() or None,
                                event=event.strip() or None,
                                progress=lambda f, t: bar.progress(min(1.0, f), text=t))
            st.session_state[LISTED_KEY] = races
        except FetchError as exc:
            st.session_state.pop(LISTED_KEY, None)
            _refused(exc)
        except RaceDataError as exc:
            st.session_state.pop(LISTED_KEY, None)
            st.error(str(exc))
        bar.empty()
    races: list[PortalRace] = st.session_state.get(LISTED_KEY) or []
    if LISTED_KEY in st.session_state and not races:
        st.info("No race session found for this season and filter.", icon=":material/info:")
    if races:
        labels = {r.url: f"{r.date} · {r.event} ({r.session})" for r in races}
        chosen = st.multiselect(f"Races to download ({len(races)} found)", list(labels),
                                default=list(labels), format_func=labels.get,
                                key="pw_portal_chosen")
        if st.button("Download and import", type="primary", key="pw_portal_go",
                     disabled=read_only or not chosen):
            bar = st.progress(0.0, text="starting")
            try:
                outcomes = download_and_import(
                    store, [r for r in races if r.url in chosen], fetcher=portal_fetcher(),
                    root=Path(db_path).parent / "downloads",
                    progress=lambda f, t: bar.progress(min(1.0, f), text=t))
            except FetchError as exc:
                _refused(exc)
                return
            st.session_state["pw_portal_outcomes"] = _outcomes_frame(outcomes)
            done = [o.race_id for o in outcomes if o.ok]
            if done:
                st.session_state["pw_pending_race"] = done[-1]
            st.rerun()
    outcomes = st.session_state.get("pw_portal_outcomes")
    if outcomes is not None:
        failed = int(outcomes["Result"].eq("error").sum())
        (st.error if failed else st.success)(
            f"{len(outcomes) - failed} of {len(outcomes)} race(s) downloaded and imported.")
        st.dataframe(outcomes, hide_index=True, width="stretch",
                     column_config={"Laps": st.column_config.NumberColumn(format="%d")})
