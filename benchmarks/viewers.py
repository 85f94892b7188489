"""Server CPU per viewer: ``streamlit run app.py`` with N real Chromium sessions on the Live page.

The server process is pinned to one core, this script and its Chromium to the other, so the
browsers never steal the server's core. For each N in ``--viewers`` (default 1, 5, 20) the
script opens N browser contexts on the Live page of Le Mans 2024 (62 cars), waits until each
shows the leaderboard, lets them settle, then reads the server's whole-process CPU time
(``/proc/PID/stat``: user + system, every thread) over ``--seconds`` of wall time, and prints:

- server CPU in % of a core;
- CPU per viewer-rerun: CPU / (N × reruns), a rerun being one 5-second refresh of the Live
  fragments (counted in the browsers: each rerun's fragment request is one websocket message
  sent by the page, see ``count_reruns``);
- viewers per core at that cost with a rerun every 5 s.

Baseline in the same run: the server with no browser at all (its idle CPU, subtracted).
"No new data" (default): the race is finished, nothing is polled. "New data"
(``--new-data``): the deployment of issue 15 — a publisher (``python -m race replay LAPS
--from 20:00:00 --speed 1 --publish DIR``, its own process, on the browsers' core) stores a
poll every 10 s of Le Mans hour 20 on and publishes a snapshot after each; the measured server
is a replica (``RACE_READ_FROM=DIR``), so every viewer's refresh meets a new data version
every second rerun. The replica's CPU with no viewer (picking up snapshots) is subtracted.

Targets (issue 15): ≤ 20 ms per viewer-rerun with no new data, ≤ 60 ms with new data.
Usage: ``python benchmarks/viewers.py [--lap-file CSV] [--viewers 1 5 20] [--seconds 60]
[--new-data]``.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LE_MANS = ROOT.parent / "shared" / "realdata" / "wec" / "2024" / "le-mans-24h" / "laps.csv"
CHROMIUM = "/usr/bin/chromium"
TICKS_PER_S = os.sysconf("SC_CLK_TCK")
RERUN_S = 5.0
TARGET_MS = {"no new data": 20.0, "new data": 60.0}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a whole process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def prepare_db(tmp: Path, lap_file: Path) -> tuple[Path, Path]:
    """A database with the race imported and a model trained on it (so the server's
    background trainer has nothing to do while it is measured)."""
    db, models = tmp / "race.duckdb", tmp / "models"
    models.mkdir()
    for args in (["import", "--db", str(db), str(lap_file)],
                 ["train", "--db", str(db), "--models", str(models)]):
        subprocess.run([sys.executable, "-m", "race", *args], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
    return db, models


def start_server(db: Path, models: Path, log: Path, port: int, core: int,
                 extra_env: dict[str, str]) -> subprocess.Popen:
    env = {**os.environ, "RACE_DB": str(db), "RACE_MODELS_DIR": str(models),
           "RACE_MONITOR": "off", "PYTHONUNBUFFERED": "1", **extra_env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
        preexec_fn=lambda: os.sched_setaffinity(0, {core}))
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health",
                                        timeout=2) as r:
                if r.read().strip() == b"ok":
                    return proc
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"streamlit did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.3)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Sessions:
    """N browser contexts on one Chromium, each counting its fragment reruns (the
    ``rerun_script`` back messages the page sends on its websocket)."""

    def __init__(self, playwright, url: str) -> None:
        self.browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  # A background tab still refreshes: the fragments' timers must run.
                  "--disable-background-timer-throttling",
                  "--disable-renderer-backgrounding",
                  "--disable-backgrounding-occluded-windows"])
        self.url = url
        self.contexts: list = []
        self.sent = 0

    def open(self, n: int) -> None:
        for _ in range(n):
            context = self.browser.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            page.on("websocket", self._count)
            page.goto(self.url, timeout=120_000, wait_until="commit")
            page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=120_000)
            self.contexts.append(context)

    def _count(self, ws) -> None:
        ws.on("framesent", lambda _payload: self._sent())

    def _sent(self) -> None:
        self.sent += 1

    def close(self) -> None:
        for context in self.contexts:
            context.close()
        self.contexts = []

    def quit(self) -> None:
        self.close()
        self.browser.close()


def measure(pid: int, seconds: float, sessions: Sessions | None) -> tuple[float, int]:
    """Server CPU seconds over ``seconds`` of wall time, and websocket messages sent by the
    browsers meanwhile."""
    sent0 = sessions.sent if sessions else 0
    cpu0, t0 = cpu_s(pid), time.monotonic()
    while time.monotonic() - t0 < seconds:
        if sessions and sessions.contexts:
            sessions.contexts[0].pages[0].wait_for_timeout(500)  # keeps Playwright's loop
        else:
            time.sleep(0.5)
    cpu = cpu_s(pid) - cpu0
    return cpu, (sessions.sent - sent0) if sessions else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lap-file", type=Path, default=LE_MANS)
    parser.add_argument("--viewers", type=int, nargs="+", default=[1, 5, 20])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=15.0,
                        help="seconds after the last session opened, before measuring")
    parser.add_argument("--new-data", action="store_true",
                        help="a publisher replays the race live; the server is a replica")
    parser.add_argument("--no-fail", action="store_true")
    args = parser.parse_args()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise SystemExit("needs Playwright for Python (requirements-dev.txt)") from None
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"needs Debian's Chromium at {CHROMIUM} (apt-get install -y chromium)")
    if not args.lap_file.exists():
        raise SystemExit(f"lap file missing: {args.lap_file}")
    cores = sorted(os.sched_getaffinity(0))
    server_core, browser_core = cores[-1], cores[0]
    os.sched_setaffinity(0, {browser_core})  # this script and its Chromium
    with tempfile.TemporaryDirectory(prefix="pw-viewers-") as tmp_name:
        tmp = Path(tmp_name)
        print(f"preparing {args.lap_file.parent.name} (import + train)…", flush=True)
        db, models = prepare_db(tmp, args.lap_file)
        port = free_port()
        publisher = None
        extra: dict[str, str] = {}
        if args.new_data:
            snapshots = tmp / "snapshots"
            publisher = subprocess.Popen(
                [sys.executable, "-m", "race", "replay", str(args.lap_file), "--db", str(db),
                 "--from", "20:00:00", "--speed", "1", "--publish", str(snapshots)],
                cwd=ROOT, stdout=(tmp / "publisher.log").open("w"), stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 120
            while not (snapshots / "CURRENT").exists():
                if publisher.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("publisher did not publish:\n"
                                     + (tmp / "publisher.log").read_text()[-2000:])
                time.sleep(0.5)
            time.sleep(5)  # the replay's catch-up to hour 20 published
            extra = {"RACE_READ_FROM": str(snapshots)}
        server = start_server(db, models, tmp / "server.log", port, server_core, extra)
        url = f"http://127.0.0.1:{port}/"
        rows = []
        try:
            with sync_playwright() as p:
                sessions = Sessions(p, url)
                try:
                    sessions.open(1)  # the first run loads the race into the caches
                    sessions.close()
                    idle_cpu, _ = measure(server.pid, args.seconds / 2, None)
                    idle_per_s = idle_cpu / (args.seconds / 2)
                    print(f"server with no viewer: {idle_per_s * 100:.2f} % of a core",
                          flush=True)
                    for n in args.viewers:
                        sessions.open(n)
                        measure(server.pid, args.settle, sessions)
                        cpu, sent = measure(server.pid, args.seconds, sessions)
                        sessions.close()
                        reruns = n * args.seconds / RERUN_S
                        per_ms = max(0.0, cpu - idle_per_s * args.seconds) / reruns * 1000
                        per_core = 1000 * RERUN_S / per_ms if per_ms > 0 else float("inf")
                        rows.append((n, cpu / args.seconds * 100, per_ms, per_core,
                                     sent / max(1, n) / (args.seconds / RERUN_S)))
                        print(f"{n:3d} viewers: server {rows[-1][1]:5.1f} % of a core, "
                              f"{per_ms:6.1f} ms per viewer-rerun, {per_core:6.0f} viewers per "
                              f"core (browser messages per viewer per 5 s: {rows[-1][4]:.1f})",
                              flush=True)
                finally:
                    sessions.quit()
        finally:
            stop(server)
            if publisher is not None:
                stop(publisher)
    worst = max(r[2] for r in rows)
    case = "new data" if args.new_data else "no new data"
    target = TARGET_MS[case]
    print(f"\n{case} ({'a poll every 10 s, replica' if args.new_data else 'finished race'}): "
          f"worst {worst:.1f} ms per viewer-rerun, "
          f"target ≤ {target:.0f} ms: {'met' if worst <= target else 'MISSED'}")
    return 0 if worst <= target or args.no_fail else 1


if __name__ == "__main__":
    raise SystemExit(main())
