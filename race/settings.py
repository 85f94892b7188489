"""Settings in one frozen dataclass: environment first, defaults that work on a fresh machine."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = PROJECT_ROOT / "data" / "race.duckdb"
# Default live feeds (DATA.md §5); hosts move between seasons: the calendar can name others.
# IMSA live scoring has been served from this CDN host (not scoring.imsa.com) since 2026.
IMSA_FEED_HOST = "dcqsrdkhg933g.cloudfront.net"
IMSA_RESULTS_URL = f"https://{IMSA_FEED_HOST}/RaceResults_JSONP.json?callback=jsonpRaceResults"
IMSA_RACE_DATA_URL = f"https://{IMSA_FEED_HOST}/RaceData_JSONP.json?callback=jsonpRaceData"
WEC_FEED_URL = "https://storage.googleapis.com/ecm-prod/live/WEC/data.json"
DEFAULT_FEEDS: dict[str, tuple[str, str | None]] = {
    "imsa": (IMSA_RESULTS_URL, IMSA_RACE_DATA_URL), "wec": (WEC_FEED_URL, None)}


def resolve_db_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The database path: ``explicit`` (``--db``) when given, else ``$RACE_DB``, else
    ``data/race.duckdb`` in the project."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("RACE_DB")
    return Path(env) if env else DEFAULT_DB


def resolve_read_from() -> Path | None:
    """``$RACE_READ_FROM``: the snapshot folder a read-only replica reads (None: the app
    opens its database read-write, the single-process default)."""
    env = os.environ.get("RACE_READ_FROM", "").strip()
    return Path(env) if env else None


@dataclass(frozen=True)
class Settings:
    """Runtime settings of the app and the command line.

    ``read_from``: with ``$RACE_READ_FROM=DIR`` the app is a read-only replica of the
    snapshots a publisher writes into DIR (``python -m race monitor --publish DIR``); it
    never opens ``db_path``.
    """

    db_path: Path
    background_video: Path
    models_dir: Path
    read_from: Path | None = None

    @property
    def store_path(self) -> Path:
        """What the app reads: the snapshot folder of a replica, else the database file."""
        return self.read_from if self.read_from is not None else self.db_path

    @classmethod
    def from_env(cls, db: str | None = None) -> Settings:
        return cls(
            db_path=resolve_db_path(db),
            background_video=Path(os.environ.get(
                "RACE_BACKGROUND_VIDEO", PROJECT_ROOT / "data" / "background.mp4")),
            models_dir=Path(os.environ.get("RACE_MODELS_DIR", PROJECT_ROOT / "models")),
            read_from=resolve_read_from(),
        )
