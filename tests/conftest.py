"""Shared fixtures: no network beyond loopback, real data location, temporary databases."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REALDATA = Path(os.environ.get("RACE_REALDATA", ROOT.parent / "shared" / "realdata"))


def real_lap_files() -> list[Path]:
    """Every real lap file under ../shared/realdata (empty when the folder is absent):
    ``laps.csv``, or ``<session>-laps.csv`` beside ``<session>-results.csv``."""
    return sorted(REALDATA.glob("*/*/*/*laps.csv")) if REALDATA.is_dir() else []


def real_file_id(path: Path) -> str:
    return "/".join(path.parts[-4:-1])


requires_realdata = pytest.mark.skipif(
    not REALDATA.is_dir(), reason=f"real data folder {REALDATA} is absent")


def _is_loopback(address: object) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return isinstance(host, str) and host.startswith("/")  # unix socket path


@pytest.fixture(autouse=True)
def _models_elsewhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Models a test trains go to its own folder, never the project's models/."""
    monkeypatch.setenv("RACE_MODELS_DIR", str(tmp_path / "models"))


@pytest.fixture(autouse=True)
def _monitor_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's live monitor (scheduler) stays off in tests unless a test turns it on."""
    monkeypatch.setenv("RACE_MONITOR", "off")


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any socket connection outside loopback fails loudly: tests never reach the internet."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded(self: socket.socket, address: object) -> object:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            raise RuntimeError(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)

    def guarded_ex(self: socket.socket, address: object) -> object:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            raise RuntimeError(f"test tried to reach the network: {address!r}")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_ex)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "race.duckdb"


@pytest.fixture
def store(db_path: Path):
    from race.store import RaceStore
    with RaceStore(db_path) as s:
        yield s
