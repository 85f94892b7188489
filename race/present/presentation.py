"""How race data looks, in one place: class colours, flag banners, time and gap text, CSS.

UI-free (no Streamlit): pages and charts take their colours and formats from here so a class
has the same colour on every page and a lap time reads ``M:SS.mmm`` everywhere.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from race.timefmt import format_duration, format_lap_time

# -- class colours ---------------------------------------------------------------------------
# Prototype top classes red, LMP2 blue, LMP3 purple, GT classes orange / green / teal. Two GT
# classes of one race (LMGTE Pro/Am, GTD PRO/GTD) get different colours.
CLASS_COLOURS: dict[str, str] = {
    "HYPERCAR": "#e10600",
    "LMH": "#e10600",
    "LMDH": "#e10600",
    "GTP": "#ff2d2d",
    "DPI": "#c62828",
    "LMP1": "#b71c1c",
    "LMP2": "#1e88e5",
    "LMP3": "#9b59d0",
    "LMGT3": "#ff9100",
    "LMGTE PRO": "#2e9d4f",
    "LMGTE AM": "#ff9100",
    "GTLM": "#00a896",
    "GTD PRO": "#ff9100",
    "GTD": "#2e9d4f",
}
UNKNOWN_CLASS_COLOUR = "#8a8f98"
# Families for names not listed above (e.g. "LMP2 PRO/AM", "GTE-AM"): first match wins.
_CLASS_FAMILIES: tuple[tuple[str, str], ...] = (
    (r"^(HYPER|LMH|LMDH|GTP|DPI|LMP1)", "#e10600"),
    (r"^LMP2", "#1e88e5"),
    (r"^LMP3", "#9b59d0"),
    (r"^GTD ?PRO", "#ff9100"),
    (r"^(GTD|GT3)", "#2e9d4f"),
    (r"^(LMGTE|GTE).*AM", "#ff9100"),
    (r"^(LMGTE|GTE|GTLM)", "#2e9d4f"),
    (r"^LMGT3", "#ff9100"),
)
# Sort order of classes on a timing screen: fastest class first.
_CLASS_RANK = ("HYPERCAR", "LMH", "LMDH", "LMP1", "GTP", "DPI", "LMP2", "LMP3", "GTLM",
               "LMGTE PRO", "GTD PRO", "LMGTE AM", "LMGT3", "GTD")


def normalise_class(name: object) -> str:
    """Upper case, single spaces, ``GTDPRO`` → ``GTD PRO``, ``LMGTE-AM`` → ``LMGTE AM``."""
    text = re.sub(r"[\s_-]+", " ", str(name or "").strip().upper())
    text = re.sub(r"^GTDPRO$", "GTD PRO", text)
    return re.sub(r"^(LMGTE|GTE)(PRO|AM)$", r"\1 \2", text)


def class_colour(name: object) -> str:
    """The colour (``#rrggbb``) of a racing class, the same on every page."""
    key = normalise_class(name)
    if key in CLASS_COLOURS:
        return CLASS_COLOURS[key]
    for pattern, colour in _CLASS_FAMILIES:
        if re.match(pattern, key):
            return colour
    return UNKNOWN_CLASS_COLOUR


def class_sort_key(name: object) -> tuple[int, str]:
    """Fastest class first (Hypercar/GTP … GT3/GTD), unknown classes last by name."""
    key = normalise_class(name)
    rank = _CLASS_RANK.index(key) if key in _CLASS_RANK else len(_CLASS_RANK)
    return rank, key


def sort_classes(names: object) -> list[str]:
    return sorted({str(n) for n in names if n is not None and str(n) != "nan"},
                  key=class_sort_key)


def text_colour_on(background: str) -> str:
    """Black or white, whichever reads better on ``background`` (``#rrggbb``)."""
    r, g, b = (int(background[i:i + 2], 16) for i in (1, 3, 5))
    luminance = 0.299 * r + 0.587 * g + 0.114 * b
    return "#111111" if luminance > 150 else "#ffffff"


# -- flags -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class FlagStyle:
    """How a track state is shown: banner text, background and text colour."""

    label: str
    background: str
    text: str
    shade: str  # translucent fill for chart periods


FLAG_STYLES: dict[str, FlagStyle] = {
    "GF": FlagStyle("GREEN FLAG", "#1b873f", "#ffffff", "rgba(27,135,63,0.0)"),
    "FCY": FlagStyle("FULL COURSE YELLOW", "#ffd600", "#111111", "rgba(255,214,0,0.22)"),
    "SF": FlagStyle("SAFETY CAR", "#ff9100", "#111111", "rgba(255,145,0,0.25)"),
    "RF": FlagStyle("RED FLAG", "#d50000", "#ffffff", "rgba(213,0,0,0.28)"),
    "FF": FlagStyle("CHEQUERED FLAG", "#f5f5f5", "#111111", "rgba(245,245,245,0.15)"),
}
UNKNOWN_FLAG = FlagStyle("FLAG UNKNOWN", "#555b66", "#ffffff", "rgba(150,150,150,0.2)")


def flag_style(code: object) -> FlagStyle:
    return FLAG_STYLES.get(str(code), UNKNOWN_FLAG)


# -- colours for cars and drivers in charts ---------------------------------------------------
CAR_PALETTE = ("#4e9fff", "#ff7f0e", "#2ecc71", "#e377c2", "#bcbd22", "#17becf", "#ff5a5f",
               "#a98bff", "#f7b733", "#7fdbca", "#c49c94", "#9edae5")
DRIVER_PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2")
FOCUS_ROW_BACKGROUND = "rgba(255, 214, 0, 0.16)"
OVERALL_BEST_BACKGROUND = "#7b1fa2"  # purple: fastest lap of the session so far
PERSONAL_BEST_BACKGROUND = "#1b873f"  # green: the car's best lap so far


def driver_colour(driver_number: object) -> str:
    """Colour of a car's n-th driver (1-based) in stint charts."""
    try:
        n = int(driver_number)
    except (TypeError, ValueError):
        return UNKNOWN_CLASS_COLOUR
    return DRIVER_PALETTE[(n - 1) % len(DRIVER_PALETTE)]


# -- text ------------------------------------------------------------------------------------
def lap_time_text(seconds: object) -> str:
    """``M:SS.mmm`` (``H:MM:SS.mmm`` past an hour); empty for missing values."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return ""
    return format_lap_time(float(seconds))


def sector_text(seconds: object) -> str:
    """Sector times as on a timing screen: ``SS.mmm`` under a minute, else ``M:SS.mmm``."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return ""
    if float(seconds) < 60:
        return f"{float(seconds):.3f}"
    return format_lap_time(float(seconds))


def clock_text(seconds: object) -> str:
    """Race clock ``H:MM:SS``; empty for missing values."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return ""
    return format_duration(max(0.0, float(seconds)))


def gap_text(value: object) -> str:
    """A gap from ``race.analysis.standings``: seconds → ``+S.mmm``/``+M:SS.mmm``; text
    (``"2 laps"``) as is; the leader (0 or None) → ``—``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, str):
        return value
    seconds = float(value)
    if seconds == 0.0:
        return "—"
    if seconds < 60:
        return f"+{seconds:.3f}"
    return "+" + format_lap_time(seconds)


def escape(text: object) -> str:
    """HTML-escape a string that came from a feed or a file (team names are untrusted)."""
    return html.escape("" if text is None else str(text), quote=True)


def flag_banner_html(code: object, *, inferred: bool = False, clock: str = "") -> str:
    """A full-width coloured banner for the current track state (escaped, safe for HTML)."""
    style = flag_style(code)
    label = style.label + (" (inferred from lap times)" if inferred and code != "GF" else "")
    border = "border:2px solid #111;" if code == "FF" else ""
    return (
        f'<div class="pw-flag" data-flag="{escape(code)}" style="background:{style.background};'
        f"color:{style.text};{border}padding:0.45rem 0.9rem;border-radius:0.4rem;"
        "font-weight:700;letter-spacing:0.04em;display:flex;flex-wrap:wrap;"
        f'justify-content:space-between;gap:0.5rem"><span>{escape(label)}</span>'
        f"<span>{escape(clock)}</span></div>")


def class_chips_html(counts: dict[str, int]) -> str:
    """One coloured chip per class with its car count (data attributes for tests)."""
    chips = []
    for name, cars in counts.items():
        colour = class_colour(name)
        chips.append(
            f'<span class="pw-class" data-class="{escape(name)}" data-cars="{int(cars)}" '
            f'style="background:{colour};color:{text_colour_on(colour)};padding:0.1rem 0.55rem;'
            f'border-radius:0.3rem;font-weight:700;white-space:nowrap">{escape(name)} '
            f'<span style="font-weight:400">· {int(cars)} car{"s" if cars != 1 else ""}'
            "</span></span>")
    return ('<div style="display:flex;flex-wrap:wrap;gap:0.4rem;margin:0.2rem 0">'
            + "".join(chips) + "</div>")


# -- leaderboard styling ---------------------------------------------------------------------
def table_css(board: pd.DataFrame, shown: list[str], focus: str | None) -> pd.DataFrame:
    """CSS for every shown cell of a table with ``number`` and ``class`` columns.

    Used for the leaderboard (``race.present.views.leaderboard``) and every per-car table: car
    number and class in the class colour, last lap purple (fastest of the session so far) or
    green (the car's best so far), status coloured, the focus car's row highlighted.
    Built with NumPy: it runs on every live refresh.
    """
    n = len(board)
    css = np.full((n, len(shown)), "", dtype=object)
    if focus is not None:
        is_focus = board["number"].astype(str).to_numpy() == str(focus)
        css[is_focus, :] = f"background-color: {FOCUS_ROW_BACKGROUND}; font-weight: bold"
    colours = np.array([class_colour(c) for c in board["class"]], dtype=object)
    col = {name: i for i, name in enumerate(shown)}
    if "No." in col:
        css[:, col["No."]] = [f"background-color: {c}; color: {text_colour_on(c)}; "
                              "font-weight: bold" for c in colours]
    if "Class" in col:
        css[:, col["Class"]] = [f"color: {c}; font-weight: bold" for c in colours]
    if "Last" in col and "overall_best_last" in board:
        overall = board["overall_best_last"].fillna(False).to_numpy(dtype=bool)
        personal = board["personal_best_last"].fillna(False).to_numpy(dtype=bool) & ~overall
        css[personal, col["Last"]] = (f"background-color: {PERSONAL_BEST_BACKGROUND}; "
                                      "color: #ffffff")
        css[overall, col["Last"]] = (f"background-color: {OVERALL_BEST_BACKGROUND}; "
                                     "color: #ffffff")
    if "Status" in col:
        j = col["Status"]
        for i, status in enumerate(board["Status"].to_numpy()):
            colour = STATUS_COLOURS.get(str(status))
            if colour:
                css[i, j] = f"{css[i, j]}; color: {colour}" if css[i, j] else f"color: {colour}"
    return pd.DataFrame(css, index=board.index, columns=shown)


STATUS_COLOURS = {"pit": "#ffb300", "retired": "#8a8f98", "finished": "#e6e6e6",
                  "track": "#7ddc8c", "not started": "#8a8f98", "grid": "#e6e6e6"}


def percent_text(share: object) -> str:
    if share is None or (isinstance(share, float) and math.isnan(share)):
        return ""
    return f"{100 * float(share):.1f} %"


def hours_axis_ticks(max_s: float) -> tuple[list[float], list[str]]:
    """Tick positions (s) and labels ``H:MM`` for a race-time axis of ``max_s`` seconds."""
    if not np.isfinite(max_s) or max_s <= 0:
        return [0.0], ["0:00"]
    hours = max_s / 3600
    step = 0.5 if hours <= 4 else 1 if hours <= 8 else 2 if hours <= 14 else 3
    ticks = list(np.arange(0, max_s + 1, step * 3600))
    return [float(t) for t in ticks], [f"{int(t // 3600)}:{int(t % 3600 // 60):02d}"
                                       for t in ticks]
