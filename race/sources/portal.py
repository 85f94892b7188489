"""Past races from the official results portals: list a season, download its lap files.

The portals (DATA.md §4) are directory listings walked from the top, every link discovered
by parsing the listing (``race.sources.alkamel.parse_listing``), never built:

- IMSA: ``Results/<YY_YYYY>/<NN_event>/<NN_championship>/<yyyyMMddHHmm_Race>/`` with the
  "Time Cards" CSV (``23_Time Cards_Race.CSV``; older ``23_Time Cards.CSV``) beside the
  results (``03_Results…``) and weather (``26_Weather…``) files, or in hour folders
  (``24_Hour 24``; 2017: ``Hour 10`` without the number prefix);
- WEC: ``Results/<NN_season>/<NN_EVENT>/<NNN_FIA WEC>/<yyyyMMddHHmm_Race>/<NN_Hour N>/`` with
  ``23_Analysis_Race_Hour N.CSV`` (also spelt "Analsysis"): the highest hour is the race.

Every request goes through ``race.sources.fetch`` (User-Agent, a pause between two requests
to the same host, retries); downloaded files are kept under a local folder and never fetched
twice (``cached_file``). A portal that refuses a plain client (HTTP 403, or a page whose
links only a browser's JavaScript would make) raises ``PortalRefused`` with what to do.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from race.errors import FetchError, NotFoundError, RaceDataError
from race.sources.alkamel import Link, is_lap_file, newest_lap_file, parse_listing
from race.sources.fetch import Fetcher, cached_file

log = logging.getLogger(__name__)

PORTALS = {"imsa": "https://imsa.results.alkamelcloud.com/Results/",
           "wec": "http://fiawec.alkamelsystems.com/Results/"}
# The championship folder of the series' own races (an IMSA event also holds the support
# series' sessions; a WEC event may hold a support race).
CHAMPIONSHIP = {"imsa": re.compile(r"weathertech", re.I),
                "wec": re.compile(r"\bwec\b|world endurance", re.I)}
_SESSION = re.compile(r"^(\d{12})_(.+)$")
_RESULTS = re.compile(r"^\d*_?\s*results.*\.csv$", re.I)
_WEATHER = re.compile(r"^\d*_?\s*weather.*\.csv$", re.I)
_PREFIX = re.compile(r"^\d+[_ ]+")

Progress = Callable[[float, str], None]


class PortalRefused(FetchError):
    """The portal answered, but not to a plain HTTP client (403, or a JavaScript page)."""


@dataclass(frozen=True)
class PortalRace:
    """One race session of a season on a results portal.

    Attributes:
        url: the session folder (``…/<yyyyMMddHHmm_Race>/``).
        start: the folder's ``yyyyMMddHHmm`` stamp (local time of the start), as text.
    """

    series: str  # "IMSA" | "WEC"
    season: int
    event: str
    session: str
    url: str
    start: str = ""

    @property
    def date(self) -> str:
        """``YYYY-MM-DD`` of the start, from the folder name ("" when unknown)."""
        s = self.start
        return f"{s[:4]}-{s[4:6]}-{s[6:8]}" if len(s) >= 8 else ""

    def as_json(self) -> dict:
        return {"series": self.series, "season": self.season, "event": self.event,
                "session": self.session, "date": self.date, "url": self.url}


@dataclass
class RaceDownload:
    """What downloading (and importing) one race gave."""

    race: PortalRace
    lap_file: Path | None = None
    files: list[str] = field(default_factory=list)  # names of the files kept
    requests: int = 0  # files fetched now (0: all were already downloaded)
    race_id: str | None = None
    laps: int = 0
    unchanged: bool = False
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_json(self) -> dict:
        return {**self.race.as_json(), "race_id": self.race_id, "laps": self.laps,
                "files": self.files, "fetched": self.requests, "unchanged": self.unchanged,
                "error": self.error, "warnings": self.warnings}


def portal_fetcher(pause_s: float = 1.0) -> Fetcher:
    """A polite fetcher for walking a portal: ``pause_s`` between two requests to the host."""
    return Fetcher(timeout_s=20.0, attempts=3, retry_delay_s=5.0, min_interval_s=0.0,
                   host_interval_s=max(0.0, pause_s))


def event_name(folder: str) -> str:
    """``02_Daytona International Speedway`` → ``Daytona International Speedway``;
    ``04_LE MANS`` → ``Le Mans``."""
    name = _PREFIX.sub("", folder).strip() or folder
    return name.title() if name.isupper() else name


def listing(url: str, fetcher: Fetcher) -> list[Link]:
    """The links of one portal page.

    Raises:
        PortalRefused: HTTP 403, or a page without links that a browser's JavaScript fills.
        FetchError: the portal cannot be reached.
    """
    try:
        body = fetcher.get(url).body
    except PortalRefused:
        raise
    except FetchError as exc:
        if "HTTP 403" in str(exc) or "HTTP 401" in str(exc):
            raise PortalRefused(
                f"{url}: the portal refused a plain HTTP client ({exc}). Open it in a "
                "browser, download the lap files (Analysis / Time Cards CSV) and import "
                "them on the Data page or with 'python -m race import FOLDER'.") from None
        # What to do comes first: an error line is cut at 300 characters, the cause last.
        text = str(exc)
        raise FetchError("cannot reach the results portal (check the network connection, or "
                         f"give the portal's address with --base-url): {text[:160]}"
                         f"{'…' if len(text) > 160 else ''}") from None
    links = parse_listing(body, url)
    if not links and re.search(rb"<script|<select", body, re.I):
        raise PortalRefused(
            f"{url}: this page is rendered by JavaScript in a browser (no links in its "
            "HTML), so a plain client cannot walk it. Give the results folder's own URL "
            "with --base-url (a directory listing), or download the lap files in a browser "
            "and import them.")
    return links


def _folders(links: list[Link]) -> list[Link]:
    return [link for link in links if link.is_dir]


def season_folders(base_url: str, season: int, fetcher: Fetcher) -> list[Link]:
    """The folders of ``base_url`` naming the season's year (``25_2025``, ``2018-2019``)."""
    year = re.compile(rf"(?<!\d){season}(?!\d)")
    found = [f for f in _folders(listing(base_url, fetcher)) if year.search(f.name)]
    if not found:
        raise NotFoundError(f"{base_url}: no folder for season {season}")
    return found


def list_season(series: str, season: int, *, fetcher: Fetcher, base_url: str | None = None,
                event: str | None = None, progress: Progress | None = None) -> list[PortalRace]:
    """Every race session of a season, in the portal's order (events by their number).

    Args:
        series: ``imsa`` or ``wec`` (any case).
        season: the year.
        base_url: the portal's ``Results/`` folder (default: the official one).
        event: a regular expression the event's folder name must contain (any case).
        progress: called with (fraction 0–1, text) after each event.

    Raises:
        PortalRefused, FetchError: the portal cannot be walked.
        NotFoundError: no such season.
        RaceDataError: a bad ``event`` expression.
    """
    key = series.lower()
    if key not in PORTALS:
        raise RaceDataError(f"unknown series {series!r}: imsa or wec")
    base = base_url or PORTALS[key]
    base = base if base.endswith("/") else base + "/"
    try:
        wanted = re.compile(event, re.I) if event else None
    except re.error as exc:
        raise RaceDataError(f"--event {event!r} is not a regular expression: {exc}") from None
    events = [(s, e) for s in season_folders(base, season, fetcher)
              for e in _folders(listing(s.url, fetcher))
              if wanted is None or wanted.search(e.name)]
    races: list[PortalRace] = []
    for i, (_, ev) in enumerate(events, 1):
        if progress:
            progress((i - 1) / max(1, len(events)), f"listing {event_name(ev.name)}")
        folders = _folders(listing(ev.url, fetcher))
        sessions = [f for f in folders if _SESSION.match(f.name)]
        if not sessions:  # championship folders first
            for champ in folders:
                if CHAMPIONSHIP[key].search(champ.name):
                    sessions += [f for f in _folders(listing(champ.url, fetcher))
                                 if _SESSION.match(f.name)]
        for folder in sessions:
            stamp, label = _SESSION.match(folder.name).groups()
            if not label.strip().lower().startswith("race"):
                continue  # practice, qualifying, warm-up
            url = folder.url if folder.url.endswith("/") else folder.url + "/"
            races.append(PortalRace(series=key.upper(), season=season,
                                    event=event_name(ev.name), session=label.strip(),
                                    url=url, start=stamp))
    if progress:
        progress(1.0, f"{len(races)} race(s) found")
    return races


def _best(links: list[Link], pattern: re.Pattern[str]) -> Link | None:
    """The official file first, then a plain one, provisional / unofficial last."""
    files = [link for link in links if not link.is_dir and pattern.match(link.name)
             and "by class" not in link.name.lower()]

    def rank(link: Link) -> tuple[int, bool, str]:
        name = link.name.lower()
        status = (0 if "unofficial" in name or "provisional" in name else
                  2 if "official" in name else 1)
        return status, "race" in name, name
    return max(files, key=rank) if files else None


def race_files(race: PortalRace, fetcher: Fetcher) -> list[Link]:
    """The lap file of a race (final, else the highest hour) and the results and weather
    files beside it (else in the session folder).

    Raises:
        NotFoundError: no lap file is published.
        PortalRefused, FetchError: the portal cannot be walked.
    """
    lap = newest_lap_file(race.url, fetcher)
    folder = lap.url.rsplit("/", 1)[0] + "/"
    here = listing(folder, fetcher)
    session = here if folder == race.url else listing(race.url, fetcher)
    found = [lap]
    for pattern in (_RESULTS, _WEATHER):
        companion = _best(here, pattern) or _best(session, pattern)
        if companion is not None and not is_lap_file(companion):
            found.append(companion)
    return found


def download_race(race: PortalRace, fetcher: Fetcher, root: str | Path) -> RaceDownload:
    """Download a race's files into one local folder (the lap file and its companions side
    by side, as the importer expects); files already there are not fetched again."""
    outcome = RaceDownload(race)
    links = race_files(race, fetcher)
    for i, link in enumerate(links):
        path, fetched = cached_file(fetcher, link.url, root)
        if i == 0:
            outcome.lap_file = path
            folder = path.parent
        elif path.parent != folder:  # a companion from the session folder: beside the laps
            target = folder / path.name
            if not target.is_file():
                target.write_bytes(path.read_bytes())
        outcome.files.append(link.name)
        outcome.requests += int(fetched)
    return outcome


def download_and_import(store, races: list[PortalRace], *, fetcher: Fetcher,
                        root: str | Path, progress: Progress | None = None
                        ) -> list[RaceDownload]:
    """Download each race and import it (one transaction per race, ``race.importer``).

    A race that fails (no lap file yet, a bad file, a refused request) is reported in its
    outcome and the others go on; a portal that refuses every request stops at the first.
    """
    from race.importer import import_lap_file

    outcomes: list[RaceDownload] = []
    for i, race in enumerate(races):
        label = f"{race.event} {race.session}"
        if progress:
            progress(i / max(1, len(races)), f"[{i + 1}/{len(races)}] downloading {label}")
        try:
            outcome = download_race(race, fetcher, root)
            if progress:
                progress((i + 0.5) / max(1, len(races)),
                         f"[{i + 1}/{len(races)}] importing {label}")
            result = import_lap_file(store, outcome.lap_file, series=race.series,
                                     event=race.event, year=race.season)
            outcome.race_id, outcome.laps = result.race_id, result.laps
            outcome.unchanged, outcome.warnings = result.unchanged, result.warnings
        except PortalRefused:
            raise
        except RaceDataError as exc:
            outcome = RaceDownload(race, error=str(exc))
            log.warning("download of %s failed: %s", race.url, exc)
        outcomes.append(outcome)
    if progress:
        progress(1.0, f"{sum(o.ok for o in outcomes)} of {len(outcomes)} race(s) imported")
    return outcomes
