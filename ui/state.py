"""The one store per server process and the sidebar selections shared by every page."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from race.settings import Settings
from race.store import READ_ONLY_MESSAGE, RaceStore, ReplicaStore

if TYPE_CHECKING:
    from race.monitor import RaceMonitor

SELECTION_KEY = "pw_selection"
DEEP_LINK_KEY = "pw_deep_link"


REPLICA_NOTE = READ_ONLY_MESSAGE[0].upper() + READ_ONLY_MESSAGE[1:] + "."


@st.cache_resource(show_spinner=False)
def get_store(path: str) -> RaceStore:
    """One ``RaceStore`` per database file and server process: read-write, or, for the
    snapshot folder of a replica (``$RACE_READ_FROM``), the newest snapshot read-only.

    Raises:
        StoreError: the file is held by another process (DuckDB allows one writer), or the
            folder holds no snapshot yet.
    """
    read_from = settings().read_from
    if read_from is not None and path == str(read_from):
        return ReplicaStore(path)
    return RaceStore(path)


def settings() -> Settings:
    return Settings.from_env()


def is_replica() -> bool:
    """True in a read-only replica (``$RACE_READ_FROM``): no monitor, no training, no
    writes; the Data page's buttons are disabled and say why (``REPLICA_NOTE``)."""
    return settings().read_from is not None


@st.cache_resource(show_spinner=False)
def get_live_monitor(path: str) -> RaceMonitor | None:
    """The one race monitor (calendar + live polling scheduler) of this server process, or
    None when ``$RACE_MONITOR=off``. Its jobs never touch Streamlit."""
    from race.monitor import get_monitor, monitor_enabled

    if is_replica():  # the publisher follows the races; a replica only reads them
        return None
    return get_monitor(get_store(path)) if monitor_enabled() else None


@dataclass(frozen=True)
class Selection:
    """What the sidebar selected: database, race, classes shown, focus car, followed cars,
    TV delay, and the moment every view shows.

    ``classes`` empty means every class. ``as_of_s`` (race time, s): now − ``delay_s``
    (``race.present.timeline``), None = the latest data; ``now_s``: the race's "now" when the
    run started (a page's replay moment composes with the delay: ``ui.moment``).
    """

    db_path: str
    race_id: str | None
    classes: tuple[str, ...] = field(default_factory=tuple)
    focus: str | None = None
    version: int = 0
    followed: tuple[str, ...] = field(default_factory=tuple)
    delay_s: int = 0
    now_s: float = 0.0
    as_of_s: float | None = None

    def at(self, replay_t_s: float | None = None) -> float | None:
        """The moment to show: a page's replay moment (None: now) minus the delay."""
        from race.present.timeline import as_of_s

        if replay_t_s is None:
            return self.as_of_s
        return as_of_s(self.now_s, self.delay_s, replay_t_s)

    @property
    def store(self) -> RaceStore:
        return get_store(self.db_path)


def selection() -> Selection:
    """The current selection (app.py stores it before running the page).

    Missing only when Streamlit ran a page file on its own: on a fresh server, a deep link
    (``/laps``) is served in the old pages-folder mode until app.py has run once. Going
    through app.py sets up the frame and switches the server to ``st.navigation``.
    """
    found = st.session_state.get(SELECTION_KEY)
    if isinstance(found, Selection):
        return found
    # A shared link (/laps?race=…&follow=…) keeps its page and its view: app.py switches to
    # the page once the frame is up (``DEEP_LINK_KEY``), the query string travels along.
    page = _calling_page(sys._getframe(1).f_globals.get("__file__"))
    if page is not None:
        st.session_state[DEEP_LINK_KEY] = page
    st.switch_page("app.py", query_params=st.query_params.to_dict())
    raise AssertionError("unreachable: st.switch_page stops the script")


def _calling_page(file: object) -> str | None:
    """``pages/laps.py`` for the page script that called, None for anything else."""
    if not isinstance(file, str):
        return None
    path = Path(file).resolve()
    root = Path(__file__).resolve().parent.parent
    if path.parent != root / "pages" or path.suffix != ".py":
        return None
    return f"pages/{path.name}"
