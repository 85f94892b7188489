"""The track-position ring: every car on a circle at its estimated place on the lap.

The line is at the top, the lap runs clockwise; sector boundaries are ticks at the field's
typical share of the lap reached there. Cars in the pit lane sit on an inner arc drawn
apart around the line (the pits are near the line), spread out in the order they came in.
Class colours as everywhere; a car one lap or more down on its class leader is a hollow
marker; the focus car and the followed cars are labelled with their number.
Pure function of the estimate (``race.analysis.track_position``); no Streamlit calls.

The figure is a plain Plotly specification (``{"data": [...], "layout": {...}}``), not a
``plotly.graph_objects.Figure``: building and validating one of 62 cars costs ~45 ms, and
during a live race the ring is remade every race second it is shown (see
``ui.render_cache.kept_spec``, which hands it to Streamlit as it is).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from race.present.presentation import class_colour, class_sort_key, clock_text, escape

TRACK_R = 1.0
PIT_R = 0.72       # the pit lane's arc, inside the track
PIT_SPAN = 0.08    # the pit lane spans the line ± this share of the lap
CLASS_STEP_R = 0.045  # classes a little apart across the track, so they do not hide each other
TRACK_COLOUR = "#3a3f47"
PIT_COLOUR = "#5a4a1a"


def _xy(fraction: np.ndarray, radius: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Lap fraction (0 = the line, at the top, clockwise) → plot coordinates."""
    angle = np.pi / 2 - 2 * np.pi * np.asarray(fraction, dtype=float)
    return radius * np.cos(angle), radius * np.sin(angle)


def _arc(start: float, end: float, radius: float, points: int) -> tuple[list, list]:
    x, y = _xy(np.linspace(start, end, points), radius)
    return x.round(4).tolist(), y.round(4).tolist()


def _scatter(**trace: object) -> dict:
    """A scatter trace as a plain dict (lists, not arrays: JSON as it is)."""
    out: dict = {"type": "scatter"}
    for key, value in trace.items():
        if isinstance(value, dict):
            value = {k: v.tolist() if isinstance(v, np.ndarray) else v
                     for k, v in value.items()}
        elif isinstance(value, np.ndarray | pd.Series):
            value = value.tolist()
        out[key] = value
    return out


@functools.lru_cache(maxsize=8)
def _track_traces(*boundaries: float) -> tuple[dict, ...]:
    """The track, the pit lane, the line and sector ticks with their labels (shared: never
    modified)."""
    track_x, track_y = _arc(0.0, 1.0, TRACK_R, 121)
    pit_x, pit_y = _arc(-PIT_SPAN, PIT_SPAN, PIT_R, 25)
    # The pit lane leaves the track before the line and joins it after.
    entry_x, entry_y = _arc_between(-PIT_SPAN - 0.02, TRACK_R, -PIT_SPAN, PIT_R)
    exit_x, exit_y = _arc_between(PIT_SPAN, PIT_R, PIT_SPAN + 0.02, TRACK_R)
    marks_x, marks_y = _arc_between(0.0, TRACK_R - 0.12, 0.0, TRACK_R + 0.12)
    for b in boundaries:
        bx, by = _arc_between(b, TRACK_R - 0.08, b, TRACK_R + 0.08)
        marks_x += [None, *bx]
        marks_y += [None, *by]
    # "Line" beside the line, not over it (the cars that just crossed are there).
    label_x, label_y = _xy(np.array([-0.045, *boundaries]), TRACK_R + 0.2)
    pit_label_x, pit_label_y = _xy(np.zeros(1), PIT_R - 0.1)
    return (
        _scatter(x=track_x, y=track_y, mode="lines", hoverinfo="skip", showlegend=False,
                 line={"color": TRACK_COLOUR, "width": 14}),
        _scatter(x=[*entry_x, None, *pit_x, None, *exit_x],
                 y=[*entry_y, None, *pit_y, None, *exit_y], mode="lines",
                 hoverinfo="skip", showlegend=False, line={"color": PIT_COLOUR, "width": 6}),
        _scatter(x=marks_x, y=marks_y, mode="lines", hoverinfo="skip", showlegend=False,
                 line={"color": "#e6e6e6", "width": 2}),
        _scatter(x=label_x.round(4), y=label_y.round(4), mode="text", hoverinfo="skip",
                 showlegend=False,
                 text=["Line", *(f"S{i + 2}" for i in range(len(boundaries)))],
                 textfont={"color": "#9aa0a6", "size": 10}),
        _scatter(x=pit_label_x.round(4), y=pit_label_y.round(4), mode="text",
                 text=["Pit lane"], hoverinfo="skip", showlegend=False,
                 textfont={"color": "#b8962e", "size": 9}),
    )


def _arc_between(f0: float, r0: float, f1: float, r1: float) -> tuple[list, list]:
    """A straight segment from (fraction f0, radius r0) to (f1, r1)."""
    x, y = _xy(np.array([f0, f1]), np.array([r0, r1]))
    return x.round(4).tolist(), y.round(4).tolist()


def _hover(number: np.ndarray, cls: np.ndarray, laps: np.ndarray, fraction: np.ndarray,
           status: np.ndarray, down: np.ndarray) -> list[str]:
    texts = []
    for n, c, lap, f, st, d in zip(number, cls, laps.tolist(), fraction.tolist(), status,
                                   down.tolist(), strict=True):
        where = ("in the pit lane" if st == "pit" else "finished" if st == "finished"
                 else f"{f:.0%} of lap {lap + 1}")
        behind = f"<br>{d} lap{'s' if d != 1 else ''} down" if d else ""
        texts.append(f"<b>#{escape(n)}</b> {escape(c)}<br>{lap} laps, {where}{behind}")
    return texts


def ring_figure(positions: pd.DataFrame, boundaries: Sequence[float], *, t_s: float,
                focus: str | None = None, followed: tuple[str, ...] = (),
                height: int = 310) -> dict:
    """The ring for ``track_positions`` rows (``stopped`` cars are left out).

    Args:
        positions: ``race.analysis.track_position.POSITION_COLUMNS`` rows.
        boundaries: the lap fractions of the S1 and S2 ends (``TrackBasis.knots_b``).
        t_s: the race time the positions are estimated for (s), shown in the middle.
        focus: the focus car (labelled, drawn larger, on top).
        followed: followed cars (labelled).
        height: figure height (px); the ring keeps a 1:1 aspect.
    """
    shown = positions[positions["status"] != "stopped"]
    number = shown["number"].to_numpy(dtype=object)
    cls = shown["class"].fillna("").to_numpy(dtype=object)
    in_pit = shown["in_pit"].to_numpy(dtype=bool)
    classes = sorted(pd.unique(cls), key=class_sort_key)
    offset = {c: (i - (len(classes) - 1) / 2) * CLASS_STEP_R for i, c in enumerate(classes)}
    radius = np.where(in_pit, PIT_R, TRACK_R + np.array([offset[c] for c in cls], dtype=float))
    fraction = shown["fraction"].to_numpy(dtype=float).copy()
    pit = np.flatnonzero(in_pit)
    if len(pit):  # spread along the pit lane, first in (earliest crossing) furthest along
        order = pit[np.argsort(-shown["last_crossing_s"].to_numpy(dtype=float)[pit])]
        slots = np.linspace(-PIT_SPAN * 0.8, PIT_SPAN * 0.8, len(order) + 2)[1:-1] \
            if len(order) > 1 else np.array([0.0])
        fraction[order] = slots
    x, y = (v.round(4) for v in _xy(fraction, radius))
    hover = np.array(_hover(number, cls, shown["laps_completed"].to_numpy(dtype=int),
                            shown["fraction"].to_numpy(dtype=float),
                            shown["status"].to_numpy(dtype=object),
                            shown["laps_down"].to_numpy(dtype=int)), dtype=object)
    lapped = shown["lapped"].to_numpy(dtype=bool)
    traces = [*_track_traces(*(round(float(v), 4) for v in boundaries))]
    marked = {focus, *followed} - {None}
    is_marked = np.array([n in marked for n in number], dtype=bool)
    is_focus = number == focus
    for c in classes:
        # this class's cars, the labelled ones last (drawn on top)
        rows = np.concatenate([np.flatnonzero((cls == c) & ~is_marked),
                               np.flatnonzero((cls == c) & is_marked)])
        colour = class_colour(c)
        # The legend's entry: a filled marker of the class (a car's may be hollow).
        traces.append(_scatter(x=[None], y=[None], mode="markers", name=escape(c) or "—",
                               legendgroup=c, hoverinfo="skip",
                               marker={"color": colour, "size": 10}))
        traces.append(_scatter(
            x=x[rows], y=y[rows], mode="markers", name=escape(c) or "—", legendgroup=c,
            showlegend=False, hovertext=hover[rows], hoverinfo="text",
            marker={"color": np.where(lapped[rows], "rgba(0,0,0,0)", colour),
                    "size": np.where(is_focus[rows], 15, 10),
                    "line": {"color": np.where(is_focus[rows], "#ffffff", colour).tolist(),
                             "width": np.where(is_focus[rows] | lapped[rows], 2, 1).tolist()}}))
    if is_marked.any():
        lx, ly = x[is_marked], y[is_marked]
        outward = np.hypot(lx, ly)
        scale = np.where(in_pit[is_marked], 0.8, 1.0 + 0.17 / np.where(outward > 0, outward, 1))
        traces.append(_scatter(
            x=(lx * scale).round(4), y=(ly * scale).round(4), mode="text",
            text=[escape(n) for n in number[is_marked]], hoverinfo="skip", showlegend=False,
            textfont={"color": ["#ffffff" if n == focus else "#ffd54f"
                                for n in number[is_marked]], "size": 12}))

    extent = TRACK_R + 0.27
    layout = {
        "height": height, "margin": {"l": 4, "r": 4, "t": 4, "b": 4},
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
        "hovermode": "closest", "showlegend": len(classes) > 1,
        "legend": {"orientation": "h", "x": 0.5, "xanchor": "center", "y": 0.0,
                   "yanchor": "top", "font": {"size": 10}, "itemclick": False,
                   "itemdoubleclick": False},
        "xaxis": {"visible": False, "range": [-extent, extent], "fixedrange": True},
        "yaxis": {"visible": False, "range": [-extent, extent], "fixedrange": True,
                  "scaleanchor": "x", "scaleratio": 1},
        "annotations": [{"x": 0, "y": 0.08, "text": clock_text(t_s), "showarrow": False,
                         "font": {"size": 13, "color": "#e6e6e6"}},
                        {"x": 0, "y": -0.1, "text": f"{len(shown)} cars",
                         "showarrow": False, "font": {"size": 10, "color": "#9aa0a6"}}],
    }
    return {"data": traces, "layout": layout}

