"""The publisher of a one-writer, many-readers deployment: after every change of the store
(a stored poll, an import, a deletion) a consistent read-only snapshot goes into a folder that
replicas read (``RACE_READ_FROM=DIR streamlit run app.py``; ``race.store.ReplicaStore``).

The snapshot's files and pointer are ``race.store``'s (``RaceStore.publish_snapshot``); this
module decides when to publish and when an old file may go:

- the store's data version is looked at every ``check_every_s`` (0.5 s; one small query) and
  a snapshot published when it moved, at most one per ``min_interval_s`` (1 s: a replay at
  100× stores ten polls a second, the live feed one per 10 s);
- a file ``CURRENT`` no longer names is removed ``keep_s`` (60 s) after it stopped being
  current, so a replica that read the old pointer just before can still open it (and
  DuckDB reads an open file after it is unlinked).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

from race.errors import StoreError
from race.store import SNAPSHOT_POINTER, PublishedSnapshot, RaceStore, Snapshot, read_snapshot

log = logging.getLogger(__name__)

# The files a publisher writes in its folder (race.store): parts, and parts being written.
SNAPSHOT_FILE = re.compile(r"^(live-\d+-[0-9a-f]+|finished-[0-9a-f]+)\.duckdb$"
                           r"|^\.tmp-[0-9a-f]+(\.duckdb(\.wal)?|-" + SNAPSHOT_POINTER + ")$")


class SnapshotPublisher:
    """Publish ``store`` into ``folder`` now, then in a thread whenever its data changes.

    Args:
        store: the writer's database (this process is its only writer).
        folder: the snapshot folder (created when missing).
        check_every_s: how often the data version is looked at (s).
        min_interval_s: the shortest time between two snapshots (s).
        keep_s: how long a replaced file stays for replicas still opening it (s).
        on_publish: called after each snapshot (the command line prints a line).
    """

    def __init__(self, store: RaceStore, folder: str | Path, *, check_every_s: float = 0.5,
                 min_interval_s: float = 1.0, keep_s: float = 60.0,
                 on_publish: Callable[[PublishedSnapshot], None] | None = None) -> None:
        self.store = store
        self.folder = Path(folder)
        self.check_every_s = check_every_s
        self.min_interval_s = min_interval_s
        self.keep_s = keep_s
        self.on_publish = on_publish
        self.last: PublishedSnapshot | None = None
        self.published = 0
        self.failures = 0
        self.last_error: str | None = None
        self._retired: dict[str, float] = {}  # file name → when it stopped being current
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def publish(self, *, raise_errors: bool = False) -> PublishedSnapshot | None:
        """Publish a snapshot now and remove files past their grace period; None (and the
        error logged and kept in ``last_error``) when it failed, or ``StoreError`` with
        ``raise_errors``."""
        with self._lock:
            before = read_snapshot_quietly(self.folder)
            try:
                result = self.store.publish_snapshot(self.folder)
            except StoreError as exc:
                self.failures += 1
                self.last_error = str(exc)
                if raise_errors:
                    raise
                log.warning("snapshot not published: %s", exc)
                return None
            self.last, self.last_error = result, None
            self.published += 1
            now = time.monotonic()
            current = {result.snapshot.live, result.snapshot.finished}
            if before is not None:
                for name in (before.live, before.finished):
                    if name not in current:
                        self._retired.setdefault(name, now)
            self._remove_old(current, now)
        log.info("published data version %s: live %.2f MB, finished %.2f MB%s, %.0f ms",
                 result.snapshot.version, result.live_bytes / 1e6, result.finished_bytes / 1e6,
                 " (written)" if result.finished_written else "", result.seconds * 1000)
        if self.on_publish is not None:
            self.on_publish(result)
        return result

    def _remove_old(self, current: set[str], now: float) -> None:
        """Unlink snapshot files not current for ``keep_s``; files found that this publisher
        did not retire (an earlier run's) get their grace period from now."""
        for path in self.folder.iterdir():
            name = path.name
            if name in current or not SNAPSHOT_FILE.match(name):
                continue
            since = self._retired.setdefault(name, now)
            if now - since >= self.keep_s:
                path.unlink(missing_ok=True)
                self._retired.pop(name, None)
        for name in [n for n in self._retired if not (self.folder / n).exists()]:
            del self._retired[name]

    # -- the thread ------------------------------------------------------------------------
    def start(self) -> PublishedSnapshot:
        """Publish once now, then follow the store in a daemon thread.

        Raises:
            StoreError: the first snapshot cannot be published (the folder is not writable).
        """
        result = self.publish(raise_errors=True)
        assert result is not None
        self._thread = threading.Thread(target=self._run, name="snapshot-publisher",
                                        daemon=True)
        self._thread.start()
        return result

    def stop(self) -> None:
        """Stop the thread, then publish what changed since the last snapshot."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._changed():
            self.publish()

    def _changed(self) -> bool:
        try:
            version = self.store.data_version()
        except Exception as exc:  # the thread's boundary: a closed store ends nothing else
            log.warning("snapshot publisher cannot read the data version: %s", exc)
            return False
        return self.last is None or version != self.last.snapshot.version

    def _run(self) -> None:
        last_at = time.monotonic()
        while not self._stop.wait(self.check_every_s):
            if time.monotonic() - last_at < self.min_interval_s or not self._changed():
                continue
            last_at = time.monotonic()
            try:
                self.publish()
            except Exception:  # the thread's boundary: log it and publish the next change
                log.exception("snapshot publisher failed")

    def status(self) -> dict:
        """The last snapshot and the counts (JSON-ready)."""
        last = self.last
        return {"folder": str(self.folder), "published": self.published,
                "failures": self.failures, "last_error": self.last_error,
                "version": last.snapshot.version if last else None,
                "live_mb": round(last.live_bytes / 1e6, 3) if last else None,
                "finished_mb": round(last.finished_bytes / 1e6, 3) if last else None,
                "publish_ms": round(last.seconds * 1000, 1) if last else None}


def read_snapshot_quietly(folder: Path) -> Snapshot | None:
    """``read_snapshot``, None when the pointer is missing or not one (a first publish
    replaces it)."""
    try:
        return read_snapshot(folder)
    except StoreError:
        return None


def describe(result: PublishedSnapshot) -> str:
    """One line for the command line."""
    snap = result.snapshot
    live = ", ".join(snap.live_races) or "no live race"
    return (f"published data version {snap.version} ({live}): live part "
            f"{result.live_bytes / 1e6:.2f} MB, finished races {result.finished_bytes / 1e6:.2f}"
            f" MB{' (rewritten)' if result.finished_written else ''}, "
            f"{result.seconds * 1000:.0f} ms")
