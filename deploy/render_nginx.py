"""Render deploy/nginx.conf.template for N replicas.

Usage: ``python deploy/render_nginx.py --prefix DIR --listen ADDR:PORT --replica HOST:PORT
[--replica HOST:PORT …] [--out FILE]`` (stdout without ``--out``). ``--prefix`` is created
with the temporary folders nginx needs (its pid, logs and buffers go there).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

TEMPLATE = Path(__file__).with_name("nginx.conf.template")
ADDRESS = re.compile(r"^[\w.\-\[\]:]+:\d{1,5}$")


def render(prefix: Path, listen: str, replicas: list[str], *, max_fails: int = 2,
           fail_timeout_s: int = 10) -> str:
    """The configuration text; each replica is marked failed for ``fail_timeout_s`` after
    ``max_fails`` failed attempts."""
    for address in [listen, *replicas]:
        if not ADDRESS.match(address):
            raise ValueError(f"{address!r} is not HOST:PORT")
    if not replicas:
        raise ValueError("at least one --replica HOST:PORT")
    servers = "\n".join(f"        server {r} max_fails={max_fails} "
                        f"fail_timeout={fail_timeout_s}s;" for r in replicas)
    text = TEMPLATE.read_text(encoding="utf-8")
    return (text.replace("@PREFIX@", str(prefix)).replace("@LISTEN@", listen)
            .replace("@SERVERS@", servers))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", required=True, type=Path)
    parser.add_argument("--listen", required=True)
    parser.add_argument("--replica", action="append", required=True, dest="replicas")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    prefix = args.prefix.resolve()
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    try:
        text = render(prefix, args.listen, args.replicas)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
