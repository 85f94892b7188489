"""Styled tables and charts built and serialised once per data version, not on every rerun.

A pandas ``Styler`` is rebuilt and re-rendered by Streamlit on every rerun: for the Live
leaderboard (62 cars × 21 columns at Le Mans) that is most of a 5-second refresh, for a
stints table of a 24 h race most of the page. ``memo_styler(key, build)`` keeps the Styler
of a table per ``key`` (which holds the data version and every input of the table), and
Streamlit's marshalling of a kept Styler (CSS of every cell, display values) is kept on it
too, so a rerun that finds nothing new sends the same table for the price of a copy.

The marshalling is kept by wrapping ``streamlit.elements.arrow.marshall_styler`` and
``streamlit.dataframe_util.convert_pandas_df_to_arrow_bytes`` (the table's own values):
only Stylers made here (and their frames, by identity) are memoised, every other table goes
through unchanged. When Streamlit no
longer has that function, tables are built as before (slower, never wrong);
``tests/test_ui_data.py`` checks the kept table equals a fresh one.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable

log = logging.getLogger(__name__)

MAX_TABLES = 32  # styled tables: a few pages × classes × focus cars; older ones age out
# memo_call / memo_value results, per group: figures and tables (a 24 h race's figure is
# ~1–3 MB serialised), whole-race frames (lap history, strategy picture:
# 2–7 MB each at Le Mans), leaderboards (~30 KB, one per replay moment).
MAX_RESULTS = {"shown": 16, "race": 4, "boards": 64}
# Functions whose results are whole-race frames (by name).
RACE_FRAMES = frozenset({"lap_history", "_snapshot_of"})
_MEMO = "_pw_memo"
_MARSHALLED = "_pw_marshalled"
_tables: OrderedDict[Hashable, object] = OrderedDict()
# id(frame of a kept Styler) → (weak reference to it, its Arrow bytes once serialised)
_frames: dict[int, tuple[weakref.ref, bytes | None]] = {}
_results: dict[str, OrderedDict[Hashable, object]] = {g: OrderedDict() for g in MAX_RESULTS}
# id(frame) → (weak reference, content key): frames shared from a cache are hashed once
_content_keys: dict[int, tuple[weakref.ref, tuple]] = {}
_lock = threading.Lock()


def memo_styler(key: Hashable, build: Callable[[], object]) -> object:
    """The Styler ``build()`` makes for ``key``, made once and kept (LRU, ``MAX_TABLES``).

    ``key`` must hold everything the table depends on (data version, race, time, classes,
    focus car …). The Styler is shared between sessions: never modify it.
    """
    with _lock:
        found = _tables.get(key)
        if found is not None:
            _tables.move_to_end(key)
            return found
    styler = build()
    setattr(styler, _MEMO, True)
    data = styler.data
    with _lock:
        _tables[key] = styler
        _frames[id(data)] = (weakref.ref(data), None)
        while len(_tables) > MAX_TABLES:
            _, old = _tables.popitem(last=False)
            _frames.pop(id(old.data), None)
    return styler


def content_key(frame) -> tuple | None:
    """A key for a frame's exact content (columns, dtypes, index and every value), or None
    when a column cannot be hashed."""
    import pandas as pd

    known = _content_keys.get(id(frame))
    if known is not None and known[0]() is frame:  # a shared cached frame: hashed once
        return known[1]
    try:
        rows = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    except (TypeError, ValueError):
        return None
    digest = hashlib.blake2b(rows.tobytes(), digest_size=16).hexdigest()
    key = ("content", tuple(map(str, frame.columns)), tuple(map(str, frame.dtypes)),
           len(frame), digest)
    with _lock:
        if len(_content_keys) > 4 * MAX_TABLES:
            _content_keys.clear()
        _content_keys[id(frame)] = (weakref.ref(frame), key)
    return key


def _arg_key(value: object) -> Hashable:
    import pandas as pd

    if isinstance(value, pd.DataFrame | pd.Series):
        key = content_key(value.to_frame() if isinstance(value, pd.Series) else value)
        if key is None:
            raise TypeError("unhashable frame")
        return key
    if isinstance(value, set | frozenset):
        return ("set", tuple(sorted((_arg_key(v) for v in value), key=repr)))
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple(_arg_key(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((str(k), _arg_key(v)) for k, v in value.items())))
    hash(value)
    return value


def memo_call(fn: Callable[..., object], *args: object, **kwargs: object) -> object:
    """``fn(*args, **kwargs)`` once per content of its arguments (frames hashed by value):
    for the figures and tables a page shapes from cached reads. The result is shared
    between reruns and sessions: never modify it. A Plotly figure is also kept serialised
    (``memo_figure``)."""
    try:
        key = ("call", fn.__module__, fn.__qualname__,
               tuple(_arg_key(a) for a in args),
               tuple(sorted((k, _arg_key(v)) for k, v in kwargs.items())))
    except TypeError:
        return fn(*args, **kwargs)
    group = "race" if fn.__name__ in RACE_FRAMES else "shown"
    result = memo_value(key, lambda: fn(*args, **kwargs), group=group)
    if type(result).__module__.startswith("plotly."):
        memo_figure(result)
    return result


def memo_value(key: Hashable, build: Callable[[], object], *, group: str = "boards"
               ) -> object:
    """``build()`` once per ``key`` (which must name everything the value depends on, e.g.
    ``content_key`` of its frames), kept in ``group``'s LRU; shared, never modify it."""
    kept = _results[group]
    with _lock:
        if key in kept:
            kept.move_to_end(key)
            return kept[key]
    result = build()
    with _lock:
        kept[key] = result
        while len(kept) > MAX_RESULTS[group]:
            kept.popitem(last=False)
    return result


def clear() -> None:
    """Forget every kept table (a new data version: they can never be hit again)."""
    with _lock:
        _tables.clear()
        _frames.clear()
        _content_keys.clear()
        for kept in _results.values():
            kept.clear()


def _kept_arrow(df: object, convert: Callable[[object], bytes]) -> bytes:
    entry = _frames.get(id(df))
    if entry is None or entry[0]() is not df:
        return convert(df)
    if entry[1] is None:
        entry = (entry[0], convert(df))
        with _lock:
            if id(df) in _frames:
                _frames[id(df)] = entry
    return entry[1]


def _is_plain(styler) -> bool:
    """A Styler of ``styled_table``'s shape: formats and cell CSS only (nothing hidden, no
    table styles, caption or concatenation, default CSS class names)."""
    css = getattr(styler, "css", {})
    # hidden_* may be NumPy arrays: their length, not their truth value
    return (len(getattr(styler, "hidden_rows", [1])) == 0
            and len(getattr(styler, "hidden_columns", [1])) == 0
            and not getattr(styler, "table_styles", None) and styler.caption is None
            and len(getattr(styler, "concatenated", [1])) == 0
            and css.get("row") == "row" and css.get("col") == "col"
            and hasattr(styler, "_display_funcs"))


def fast_marshall_styler(proto, styler, default_uuid: str) -> bool:
    """Streamlit's ``marshall_styler`` for a plain Styler, without pandas' HTML translation.

    The same proto (uuid, cell CSS rules grouped as pandas groups them, display values) from
    pandas' own computed CSS (``Styler._compute``) and display functions; ``False`` (nothing
    written) for any other Styler. ``tests/test_ui_data.py`` compares both on real tables.
    """
    from enum import Enum

    import pandas as pd
    from streamlit import dataframe_util

    if not _is_plain(styler):
        return False
    if styler.uuid is None:
        styler.set_uuid(default_uuid)
    proto.styler.uuid = str(styler.uuid)
    styler._compute()
    data = styler.data
    ctx = styler.ctx
    groups: dict[tuple, list[str]] = {}
    for r, c in sorted(k for k, v in ctx.items() if v):  # row-major, as pandas renders
        groups.setdefault(tuple(ctx[r, c]), []).append(f"row{r}_col{c}")
    table = f"#T_{styler.uuid}"
    rules = []
    for props, selectors in groups.items():
        if not any(any(p) for p in props):
            continue
        block = "; ".join(f"{str(k).strip()}: {str(v).strip()}" for k, v in props)
        rules.append(", ".join(f"{table}_{sel}" for sel in selectors) + " { " + block + " }")
    if rules:
        proto.styler.styles = "\n".join(rules)
    funcs = styler._display_funcs
    n_cols = data.shape[1]
    columns: list[list[str]] = [[] for _ in range(n_cols)]
    for r, row in enumerate(data.itertuples()):
        for c in range(n_cols):
            shown = funcs[(r, c)](row[c + 1])
            columns[c].append(str(shown.value) if isinstance(shown, Enum) else str(shown))
    display = pd.DataFrame({c: pd.array(columns[c], dtype="str") for c in range(n_cols)},
                           index=data.index)
    display.columns = data.columns
    proto.styler.display_values = _convert_arrow(display) if _convert_arrow else \
        dataframe_util.convert_pandas_df_to_arrow_bytes(display)
    return True


_convert_arrow: Callable[[object], bytes] | None = None


def _install() -> bool:
    try:
        from streamlit.elements import arrow
    except ImportError:  # pragma: no cover - Streamlit reorganised
        return False
    original = getattr(arrow, "marshall_styler", None)
    if original is None or getattr(original, "_pw_wrapped", False):
        return original is not None

    def marshall_styler(proto, styler, default_uuid: str) -> None:
        kept = getattr(styler, _MARSHALLED, None)
        if kept is not None:
            proto.styler.CopyFrom(kept)
            return
        if not fast_marshall_styler(proto, styler, default_uuid):
            original(proto, styler, default_uuid)
        if getattr(styler, _MEMO, False):
            copy = type(proto.styler)()
            copy.CopyFrom(proto.styler)
            setattr(styler, _MARSHALLED, copy)

    marshall_styler._pw_wrapped = True  # type: ignore[attr-defined]
    arrow.marshall_styler = marshall_styler
    global _convert_arrow
    convert = getattr(arrow.dataframe_util, "convert_pandas_df_to_arrow_bytes", None)
    _convert_arrow = convert
    if convert is not None:
        def to_arrow_bytes(df: object) -> bytes:
            return _kept_arrow(df, convert)
        arrow.dataframe_util.convert_pandas_df_to_arrow_bytes = to_arrow_bytes
    return True


class _KeptSpec(dict):
    """A figure's validated specification, with its JSON once serialised."""

    json: str | None = None


def memo_figure(figure: object) -> object:
    """Mark a Plotly figure that is kept (shared, never modified): Streamlit's copy,
    validation and JSON serialisation of it then happen once, not on every rerun."""
    figure._pw_memo = True  # type: ignore[attr-defined]
    return figure


def kept_spec(spec: dict) -> dict:
    """A figure given as its plain Plotly specification (``{"data": [...], "layout": {...}}``,
    valid as it is), for ``st.plotly_chart``: sent without building and validating a
    ``plotly.graph_objects.Figure`` (for the 62-car track ring ~45 ms a figure), its JSON
    made once. Shared, never modify it. Without the wrapper (``INSTALLED`` false) Streamlit
    validates it as any dict: slower, never wrong."""
    kept = _KeptSpec(spec)
    kept._pw_memo = True  # type: ignore[attr-defined]
    kept._pw_spec = kept  # type: ignore[attr-defined]
    return kept


def _install_plotly() -> bool:
    try:
        import plotly.io
        import plotly.tools
    except ImportError:  # pragma: no cover
        return False
    to_figure = plotly.tools.return_figure_from_figure_or_data
    to_json = plotly.io.to_json
    if getattr(to_figure, "_pw_wrapped", False):
        return True

    def return_figure_from_figure_or_data(figure_or_data, validate_figure):
        if not getattr(figure_or_data, "_pw_memo", False):
            return to_figure(figure_or_data, validate_figure)
        kept = getattr(figure_or_data, "_pw_spec", None)
        if kept is None:
            kept = _KeptSpec(to_figure(figure_or_data, validate_figure))
            figure_or_data._pw_spec = kept
        return kept

    def to_json_kept(fig, *args, **kwargs):
        if isinstance(fig, _KeptSpec) and not args and set(kwargs) <= {"validate"}:
            if fig.json is None:
                fig.json = to_json(fig, *args, **kwargs)
            return fig.json
        return to_json(fig, *args, **kwargs)

    return_figure_from_figure_or_data._pw_wrapped = True  # type: ignore[attr-defined]
    plotly.tools.return_figure_from_figure_or_data = return_figure_from_figure_or_data
    plotly.io.to_json = to_json_kept
    return True


INSTALLED = _install() and _install_plotly()
if not INSTALLED:  # pragma: no cover
    log.warning("streamlit.elements.arrow.marshall_styler not found: tables are re-rendered "
                "on every rerun")
