"""Shareable views in Streamlit: the page address's query string in and out of the sidebar.

On a run whose query string differs from the one this session last wrote (a pasted link, a
reload, a first open), ``incoming`` reads it (``race.present.share.parse_query``) so the
sidebar can put it into its widgets' state before they are made; ``write`` puts the
sidebar's selection back after them. Parameters that do not fit are shown as ``st.warning``
naming the parameter, never as a traceback. Other parameters (``?layout=compact``) are kept.
"""

from __future__ import annotations

import streamlit as st

from race.present.share import PARAMS, SharedView, format_query, parse_query

WRITTEN_KEY = "pw_link_written"


def _ours() -> dict[str, str]:
    return {k: st.query_params.get(k, "") for k in PARAMS if k in st.query_params}


def incoming() -> SharedView | None:
    """The view the address asks for, when it is not what this session wrote last (else
    None: the widgets already hold it, or the user changed them since)."""
    current = _ours()
    if current == st.session_state.get(WRITTEN_KEY):
        return None
    view, warnings = parse_query(current)
    for line in warnings:
        warn(line)
    return view


_MARKDOWN = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+-.!|~<>$"})


def warn(line: str) -> None:
    """A warning about the address; its values are shown as typed, never as Markdown."""
    st.warning(line.translate(_MARKDOWN), icon=":material/link_off:")


def write(view: SharedView) -> None:
    """Put the selection in the address (only the parameters that changed)."""
    wanted = format_query(view)
    current = _ours()
    if wanted != current:
        for name in PARAMS:
            if name in wanted and current.get(name) != wanted[name]:
                st.query_params[name] = wanted[name]
            elif name not in wanted and name in current:
                del st.query_params[name]
    st.session_state[WRITTEN_KEY] = wanted
