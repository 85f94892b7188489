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


DARK_TEXT = "#111111"
LIGHT_TEXT = "#ffffff"
PAGE_BACKGROUND = "#0e1117"  # .streamlit/config.toml backgroundColor
WCAG_AA = 4.5  # minimum contrast ratio of normal text (WCAG 2.x, level AA)


def _rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{max(0, min(255, round(c))):02x}" for c in rgb)


def relative_luminance(colour: str) -> float:
    """WCAG 2.x relative luminance of ``#rrggbb`` (0 = black, 1 = white)."""
    def channel(c: int) -> float:
        x = c / 255
        return x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(c) for c in _rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: str, b: str) -> float:
    """WCAG contrast ratio of two ``#rrggbb`` colours, 1 to 21 (AA text needs 4.5)."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_colour_on(background: str) -> str:
    """Black or white, whichever has the higher WCAG contrast on ``background``."""
    return (DARK_TEXT if contrast_ratio(DARK_TEXT, background)
            >= contrast_ratio(LIGHT_TEXT, background) else LIGHT_TEXT)


def _towards(colour: str, target: str, share: float) -> str:
    a, b = _rgb(colour), _rgb(target)
    return _hex(tuple(x + (y - x) * share for x, y in zip(a, b, strict=True)))


def number_cell_colours(name: object) -> tuple[str, str]:
    """(background, text) of a car-number cell in its class colour, at least WCAG AA.

    The class colour itself when black or white text reaches 4.5:1 on it; otherwise the
    colour darkened step by step under white text (reds and blues stay recognisable).
    """
    background = class_colour(name)
    text = text_colour_on(background)
    share = 0.0
    while contrast_ratio(text, background) < WCAG_AA and share < 1.0:
        share += 0.04
        background = _towards(class_colour(name), "#000000", share)
        text = LIGHT_TEXT
    return background, text


def class_text_colour(name: object, page: str = PAGE_BACKGROUND) -> str:
    """A class's colour for text on the page background, lightened until WCAG AA."""
    colour, share = class_colour(name), 0.0
    while contrast_ratio(colour, page) < WCAG_AA and share < 1.0:
        share += 0.04
        colour = _towards(class_colour(name), "#ffffff", share)
    return colour


def number_sort_keys(numbers: object) -> np.ndarray:
    """A numeric sort key per car number (text): ``2 < 10 < 155``, text breaks ties.

    Car numbers are text ("007" is not "7"): the key is the number's digits as a whole number
    plus a fraction < 1 that orders different texts with the same digits ("007" before "7");
    numbers without a digit sort after every numbered car, by text. Equal texts get equal keys.
    """
    texts = ["" if n is None else str(n) for n in numbers]  # type: ignore[union-attr]
    unique = sorted(set(texts), key=_number_order)
    keys: dict[str, float] = {}
    seen: dict[int, int] = {}
    for text in unique:
        base = _number_order(text)[0]
        k = seen.get(base, 0)
        seen[base] = k + 1
        keys[text] = base + k / 1000
    return np.array([keys[t] for t in texts], dtype=float)


def _number_order(text: str) -> tuple[int, str]:
    digits = re.sub(r"\D", "", text)
    return (int(digits[:9]) if digits else 1_000_000_000, text)


# -- event names -----------------------------------------------------------------------------
_TRACK_SUFFIXES = re.compile(
    r"\s+(international raceway|international racing circuit|international speedway|"
    r"international|raceway|motorsport park|sports car course|street circuit|street course|"
    r"motor speedway|circuit|speedway)$", re.I)


def event_title(event: object, track: object = None, duration_s: object = None) -> str:
    """What a person calls a race: ``Sebring 12 Hours``, ``Le Mans 24 Hours``, ``Long Beach``.

    From the stored event (often a folder name, ``05-sebring-international-raceway``), its
    track and its scheduled length: races of 2.5 h or more are named by their length in hours.
    A sample race (``sample-6h-seed1``) is ``Sample race, 6 Hours`` (``… (seed 2)``).
    """
    def given(value: object) -> str:
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        return "" if missing else str(value).strip()

    text = given(event)
    hours = None
    if given(duration_s):
        hours = float(duration_s) / 3600  # type: ignore[arg-type]
    sample = re.match(r"^sample[-_ ](\d+(?:\.\d+)?)(h|min)[-_ ]seed(\d+)$", text, re.I)
    if sample:
        length = float(sample.group(1)) / (60 if sample.group(2).lower() == "min" else 1)
        seed = int(sample.group(3))
        name = f"Sample race, {_hours_text(length)}"
        return name if seed == 1 else f"{name} (seed {seed})"
    if not re.search(r"[-_]", text) and re.search(r"[A-Z]", text) and " " in text:
        return text  # already a name ("Sebring 12 Hours")
    place = given(track) or text
    place = re.sub(r"^\d+[-_ ]+", "", place)
    place = re.sub(r"\b\d+\s*h(ours?)?\b|\b\d+\s*km\b", " ", place, flags=re.I)
    place = re.sub(r"[-_\s]+", " ", place).strip()
    place = _TRACK_SUFFIXES.sub("", place).strip() or place
    place = " ".join(w if w.isupper() and len(w) > 1 else w.capitalize() for w in place.split())
    named = re.search(r"(\d+)\s*h(?:ours?)?\b", text, re.I)
    if named:
        hours = float(named.group(1))
    if hours is not None and hours >= 2.5 and abs(hours - round(hours)) <= 0.1:
        return f"{place} {_hours_text(hours)}"
    return place


def _hours_text(hours: float) -> str:
    if hours < 2:
        return f"{round(hours * 60)} minutes"
    return f"{round(hours)} Hours"


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
# Followed (starred) cars: bold and a faint tint, less than the focus car's row.
FOLLOWED_ROW_BACKGROUND = "rgba(120, 170, 255, 0.10)"
FOLLOWED_MARK = "★"
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
        colour, text = number_cell_colours(name)
        chips.append(
            f'<span class="pw-class" data-class="{escape(name)}" data-cars="{int(cars)}" '
            f'style="background:{colour};color:{text};padding:0.1rem 0.55rem;'
            f'border-radius:0.3rem;font-weight:700;white-space:nowrap">{escape(name)} '
            f'<span style="font-weight:400">· {int(cars)} car{"s" if cars != 1 else ""}'
            "</span></span>")
    return ('<div style="display:flex;flex-wrap:wrap;gap:0.4rem;margin:0.2rem 0">'
            + "".join(chips) + "</div>")


# -- leaderboard styling ---------------------------------------------------------------------
def table_css(board: pd.DataFrame, shown: list[str], focus: str | None,
              followed: tuple[str, ...] = ()) -> pd.DataFrame:
    """CSS for every shown cell of a table with ``number`` and ``class`` columns.

    Used for the leaderboard (``race.present.views.leaderboard``) and every per-car table: car
    number and class in the class colour, last lap purple (fastest of the session so far) or
    green (the car's best so far), status coloured, the focus car's row highlighted, the
    followed cars' rows bold on a fainter tint. Built with NumPy: it runs on every live refresh.
    """
    n = len(board)
    css = np.full((n, len(shown)), "", dtype=object)
    if followed:
        is_followed = np.isin(board["number"].astype(str).to_numpy(), list(followed))
        css[is_followed, :] = f"background-color: {FOLLOWED_ROW_BACKGROUND}; font-weight: bold"
    if focus is not None:
        is_focus = board["number"].astype(str).to_numpy() == str(focus)
        css[is_focus, :] = f"background-color: {FOCUS_ROW_BACKGROUND}; font-weight: bold"
    col = {name: i for i, name in enumerate(shown)}
    if "No." in col:
        cells = {c: number_cell_colours(c) for c in set(board["class"])}
        css[:, col["No."]] = [f"background-color: {cells[c][0]}; color: {cells[c][1]}; "
                              "font-weight: bold" for c in board["class"]]
    if "Class" in col:
        texts = {c: class_text_colour(c) for c in set(board["class"])}
        css[:, col["Class"]] = [f"color: {texts[c]}; font-weight: bold" for c in board["class"]]
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


def mark_followed(frame: pd.DataFrame, followed: tuple[str, ...], column: str = "No."
                  ) -> pd.DataFrame:
    """Prefix the car number with "★" for followed cars (display only; ``number`` keeps the
    sort key)."""
    if not followed or frame.empty or column not in frame or "number" not in frame:
        return frame
    starred = frame["number"].astype(str).isin(list(followed))
    if not starred.any():
        return frame
    return frame.assign(**{column: np.where(starred, f"{FOLLOWED_MARK} " +
                                            frame[column].astype(str), frame[column])})


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
