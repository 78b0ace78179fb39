"""``dnslab view DIR``: the live page, rendering a finished drill's or sweep's results.json."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

VIEW_HELP = """\
Serve the page of the live drill (docs/web.md) for a finished run: DIR/results.json of
`dnslab drill` (per TTL: region health, share of clients on the dead region, the stale-window
distribution, the timeline) or of `dnslab sweep` (the trade-off curve of staleness against
query cost, and the cells). Loopback only; Ctrl-C stops it.
"""


def register(sub: Any) -> None:
    view: argparse.ArgumentParser = sub.add_parser(
        "view", help="show a drill's or sweep's results.json in the browser", description=VIEW_HELP
    )
    view.add_argument(
        "dir", type=Path, help="an output directory holding results.json (or the file)"
    )
    view.add_argument(
        "--web",
        default="127.0.0.1:8787",
        metavar="HOST:PORT",
        help="where to serve the page (default 127.0.0.1:8787; port 0: any free port)",
    )
    view.set_defaults(handler=handle_view)


def results_file(given: Path) -> Path:
    """DIR/results.json (or the file itself), checked to be a drill's or a sweep's."""
    import json

    from lab.errors import ConfigError

    path = given / "results.json" if given.is_dir() else given
    if not path.is_file():
        raise ConfigError(f"{path}: no such file (expected a drill's or sweep's results.json)")
    try:
        schema = json.loads(path.read_text()).get("schema")
    except (ValueError, AttributeError) as exc:
        raise ConfigError(f"{path}: not a results.json: {exc}") from None
    known = ("dnslab.drill.results/1", "dnslab.sweep.results/1")
    if schema not in known:
        raise ConfigError(f"{path}: schema {schema!r} is none of {', '.join(known)}")
    return path


def handle_view(args: argparse.Namespace) -> int:
    import time

    from lab.up import sigterm_as_interrupt
    from lab.web.server import WebServer, parse_web_listen

    path = results_file(args.dir)
    host, port = parse_web_listen(args.web)
    try:
        server = WebServer(host, port, results=path).start()
    except OSError as exc:
        from lab.errors import ConfigError

        raise ConfigError(f"--web {args.web}: cannot listen: {exc.strerror}") from None
    print(f"dnslab view: {server.url} shows {path}; Ctrl-C stops", flush=True)
    with sigterm_as_interrupt():
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
    print("stopped", file=sys.stderr)
    return 0
