"""Shareable views: race, classes, focus car, followed cars and TV delay in the page address.

``/laps?race=wec-2025-x-race&classes=LMP2,GTD&focus=7&follow=7,51&delay=60`` opens the Laps
page on that race with those classes, that focus car, those stars and that delay. The page is
the address's path (``st.navigation``); everything else is the query string, read by
``parse_query`` (syntax), checked by ``check_view`` (against the stored races and cars) and
written by ``format_query``. Pure functions: ``ui/share.py`` moves them in and out of Streamlit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

from race.present.timeline import MAX_DELAY_S

PARAMS = ("race", "classes", "focus", "follow", "delay")


@dataclass(frozen=True)
class SharedView:
    """What a link selects. None / empty: the link does not say (the app's default stays)."""

    race: str | None = None
    classes: tuple[str, ...] = field(default_factory=tuple)
    focus: str | None = None
    follow: tuple[str, ...] = field(default_factory=tuple)
    delay_s: int | None = None

    def given(self) -> set[str]:
        """The parameters this view sets."""
        return {name for name, value in (("race", self.race), ("classes", self.classes),
                                         ("focus", self.focus), ("follow", self.follow),
                                         ("delay", self.delay_s)) if value not in (None, ())}


def _one(value: object) -> str:
    """A query parameter's text (the last one when repeated, as ``st.query_params`` does)."""
    if isinstance(value, list | tuple):
        value = value[-1] if value else ""
    return "" if value is None else str(value).strip()


def _shown(text: str, limit: int = 40) -> str:
    """A parameter's value for a message: quoted, cut when long (the address is untrusted)."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _items(text: str) -> tuple[str, ...]:
    """``"LMP2, GTD,,LMP2"`` → ``("LMP2", "GTD")`` (order kept, blanks and repeats dropped)."""
    return tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))


def parse_query(params: Mapping[str, object]) -> tuple[SharedView, list[str]]:
    """The view a query string asks for, and one warning per parameter that is not usable.

    Unknown parameters (``layout`` …) are left to whoever reads them. A delay that is not a
    whole number of seconds within 0–180 is dropped with a warning.
    """
    warnings: list[str] = []
    delay: int | None = None
    text = _one(params.get("delay"))
    if text:
        try:
            seconds = float(text.removesuffix("s"))
        except ValueError:
            seconds = float("nan")
        if seconds == seconds and 0 <= seconds <= MAX_DELAY_S:  # not NaN, in range
            delay = round(seconds)
        else:
            warnings.append(f"Link parameter delay={_shown(text)} ignored: the TV delay is "
                            f"a number of seconds from 0 to {MAX_DELAY_S}.")
    view = SharedView(race=_one(params.get("race")) or None,
                      classes=_items(_one(params.get("classes"))),
                      focus=_one(params.get("focus")) or None,
                      follow=_items(_one(params.get("follow"))), delay_s=delay)
    return view, warnings


def check_view(view: SharedView, *, races: Iterable[str] | None = None,
               classes: Iterable[str] | None = None, cars: Iterable[str] | None = None,
               ) -> tuple[SharedView, list[str]]:
    """``view`` without what this database does not hold, with one warning per parameter.

    Args:
        races: the stored race ids (None: not checked).
        classes, cars: the selected race's classes and car numbers (None: not checked).
    """
    warnings: list[str] = []
    if races is not None and view.race is not None and view.race not in set(races):
        warnings.append(f"Link parameter race={_shown(view.race)} ignored: no such race is stored "
                        "(import it on the Data page).")
        view = replace(view, race=None)
    if classes is not None and view.classes:
        known = set(classes)
        bad = [c for c in view.classes if c not in known]
        if bad:
            warnings.append(f"Link parameter classes: {_shown(', '.join(bad))} not in this "
                            "race, ignored.")
            view = replace(view, classes=tuple(c for c in view.classes if c in known))
    if cars is not None:
        known = set(cars)
        if view.focus is not None and view.focus not in known:
            warnings.append(f"Link parameter focus={_shown(view.focus)} ignored: no such car "
                            "in this race.")
            view = replace(view, focus=None)
        bad = [n for n in view.follow if n not in known]
        if bad:
            warnings.append(f"Link parameter follow: no car "
                            f"{_shown(', '.join('#' + n for n in bad))} in this race, ignored.")
            view = replace(view, follow=tuple(n for n in view.follow if n in known))
    return view, warnings


def format_query(view: SharedView) -> dict[str, str]:
    """The query parameters of a view (only what it sets; delay 0 is left out)."""
    out: dict[str, str] = {}
    if view.race:
        out["race"] = view.race
    if view.classes:
        out["classes"] = ",".join(view.classes)
    if view.focus:
        out["focus"] = view.focus
    if view.follow:
        out["follow"] = ",".join(view.follow)
    if view.delay_s:
        out["delay"] = str(int(view.delay_s))
    return out


def share_link(page_path: str, view: SharedView, extra: Mapping[str, str] | None = None
               ) -> str:
    """``/laps?race=…&classes=…`` for a page's URL path (``""`` for the default page)."""
    query = {**format_query(view), **dict(extra or {})}
    path = "/" + page_path.strip("/")
    return path + ("?" + urlencode(query, safe=",") if query else "")
