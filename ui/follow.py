"""Toasts for the followed (starred) cars, from the Live page's 5-second fragment.

Per session, a watermark (the race time last looked at, the followed cars' class positions
then) in ``st.session_state``: each refresh toasts only what happened since
(``race.present.follow.notifications``). A refresh with the same data version, moment and
stars returns at once: nothing is read or recomputed.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from race.present.follow import MAX_STEP_S, class_positions, notifications, shown_notices
from ui import data

MARK_KEY = "pw_follow_mark"


def toast_followed(path: str, race_id: str, version: int, followed: Sequence[str],
                   as_of_s: float | None) -> int:
    """Toast what the followed cars did since this session last looked; the number of
    toasts shown. The first look at a race, and a jump of the moment backwards or by more
    than ``MAX_STEP_S`` (a replay moved, the delay changed), only set the watermark."""
    followed = tuple(followed)
    look = (race_id, followed, version, as_of_s)
    mark = st.session_state.get(MARK_KEY)
    if not followed or (mark is not None and mark["look"] == look):
        return 0
    # Every class (a followed car may be in a class the board hides); cached, read-only.
    board, _, at_s, _ = data.live_board(path, race_id, version, as_of_s, (), True)
    positions = class_positions(board, followed)
    shown = 0
    if (mark is not None and mark["race"] == race_id
            and 0 < at_s - mark["t_s"] <= MAX_STEP_S):
        feed = data.events(path, race_id, version)
        for notice in shown_notices(notifications(feed, followed, mark["t_s"], at_s,
                                                  mark["positions"], positions)):
            st.toast(notice.text, icon=notice.icon)
            shown += 1
    st.session_state[MARK_KEY] = {"look": look, "race": race_id, "t_s": at_s,
                                  "positions": positions}
    return shown
