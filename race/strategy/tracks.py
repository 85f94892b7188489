"""Track and class keys that let one race learn from others (history) and group results.

Event names in paths differ between years (``05-sebring-international-raceway``,
``07-sebring-international-raceway``; ``12-6h---watkins-glen-international``,
``13-weathertech-240---wgi``), so history is keyed by a normalised track key. Class names
differ too (``GTDPRO`` / ``GTD PRO``, ``HYPERCAR`` / ``Hypercar``).
"""

from __future__ import annotations

import re

import pandas as pd

# Substring of the normalised event name → track key. Order matters: first hit wins.
_TRACK_ALIASES: tuple[tuple[str, str], ...] = (
    ("wgi", "watkins-glen"), ("watkins", "watkins-glen"), ("sebring", "sebring"),
    ("daytona", "daytona"), ("roar", "daytona"), ("laguna", "laguna-seca"),
    ("mid-ohio", "mid-ohio"), ("lime-rock", "lime-rock"), ("road-america", "road-america"),
    ("long-beach", "long-beach"), ("virginia", "vir"), ("road-atlanta", "road-atlanta"),
    ("petit", "road-atlanta"), ("belle-isle", "detroit"), ("detroit", "detroit"),
    ("canadian-tire", "mosport"), ("mosport", "mosport"), ("indianapolis", "indianapolis"),
    ("bricks", "indianapolis"), ("le-mans", "le-mans"), ("spa", "spa"), ("fuji", "fuji"),
    ("bahrain", "bahrain"), ("sakhir", "bahrain"), ("imola", "imola"), ("qatar", "qatar"),
    ("lusail", "qatar"), ("sao-paulo", "interlagos"), ("interlagos", "interlagos"),
    ("cota", "cota"), ("americas", "cota"), ("silverstone", "silverstone"),
    ("monza", "monza"), ("portimao", "portimao"), ("shanghai", "shanghai"),
)

FUEL_LIMITED = "fuel-limited"
ENERGY_BOP = "energy/BoP"
OTHER = "other"

_CLASS_GROUPS = {
    "LMP2": FUEL_LIMITED, "LMP3": FUEL_LIMITED,
    "HYPERCAR": ENERGY_BOP, "LMGT3": ENERGY_BOP, "GTP": ENERGY_BOP, "GTD": ENERGY_BOP,
    "GTDPRO": ENERGY_BOP,
}


def track_key(event: str) -> str:
    """A key shared by every running of one circuit, from an event or track name.

    Args:
        event: event folder name or track name, e.g. ``12-6h---watkins-glen-international``.

    Returns:
        e.g. ``watkins-glen``; an unknown circuit gets its name without numbers and durations.
    """
    name = re.sub(r"[^a-z0-9]+", "-", event.lower()).strip("-")
    for needle, key in _TRACK_ALIASES:
        if needle in name:
            return key
    name = re.sub(r"(^|-)(\d+h|\d+km|\d+)(?=-|$)", "-", name)
    return re.sub(r"-+", "-", name).strip("-") or "unknown"


def class_key(name: object) -> str:
    """Normalised class name: upper case without spaces or dashes (``GTD PRO`` → ``GTDPRO``)."""
    return re.sub(r"[\s_-]+", "", str(name or "")).upper()


def class_keys(names: pd.Series) -> pd.Series:
    """``class_key`` of every element, computed once per distinct name (fast on laps)."""
    uniques = names.dropna().unique()
    return names.map({u: class_key(u) for u in uniques}).fillna("")


def class_group(name: object) -> str:
    """The scoring group of a class: fuel-limited (LMP2, LMP3), energy/BoP or other."""
    return _CLASS_GROUPS.get(class_key(name), OTHER)


# Classes that succeeded one another with similar cars and rules: a first running of GTP at
# a track can learn from DPi there, LMGT3 from LMGTE Am, Hypercar from LMP1.
_LINEAGE = {
    "GTP": ("DPI",), "DPI": ("GTP",), "HYPERCAR": ("LMP1",), "LMP1": ("HYPERCAR",),
    "LMGT3": ("LMGTEAM", "LMGTEPRO"), "LMGTEAM": ("LMGT3", "LMGTEPRO"),
    "LMGTEPRO": ("LMGTEAM", "LMGT3"), "GTDPRO": ("GTD", "GTLM"), "GTD": ("GTDPRO",),
    "GTLM": ("GTDPRO",),
}


def related_classes(ck: str) -> tuple[str, ...]:
    """Class keys whose stints are the next best evidence for ``ck`` (not ``ck`` itself)."""
    return _LINEAGE.get(ck, ())
