"""The README's picture of the live page: a real live drill, watched in headless Chromium,
captured once the drill has ended (``make screenshot``; docs/web.md).

    python -m lab.web.screenshot docs/img/live-page.png [--scenario FILE] [--ttl 5]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import threading
from pathlib import Path

from lab.drill.runner import DrillOptions, run_drill
from lab.procs import wait_for
from lab.web.browser import chromium, console_errors
from lab.web.hub import EventHub
from lab.web.server import WebServer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("png", type=Path)
    ap.add_argument("--scenario", type=Path, help="default: scenarios/default.toml")
    ap.add_argument("--ttl", type=int, default=5)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=930)
    args = ap.parse_args(argv)
    from lab.config import load_config
    from lab.drill.runner import config_path

    regions = list(load_config(config_path(None)).regions)
    hub = EventHub({"title": "dnslab — live drill", "regions": regions, "source": "drill"})
    server = WebServer("127.0.0.1", 0, hub).start()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "drill"
        with chromium(Path(tmp) / "profile", args.width, args.height) as browser:
            browser.get(server.url)
            wait_for(
                lambda: browser.execute_script("return window.dnslab.snapshots") == 1, 10, "page"
            )
            rc: list[int] = []
            opts = DrillOptions(scenario=args.scenario, ttls=[args.ttl], out=out, sinks=(hub,))
            drill = threading.Thread(
                target=lambda: rc.append(run_drill(opts, io.StringIO(), sys.stderr)), daemon=True
            )
            drill.start()
            drill.join()
            hub.close()
            wait_for(
                lambda: browser.execute_script("return window.dnslab.ended") is True, 10, "end"
            )
            errors = console_errors(browser)
            if errors or rc != [0]:
                print(f"drill rc {rc}, console errors {errors}: no screenshot", file=sys.stderr)
                return 1
            args.png.parent.mkdir(parents=True, exist_ok=True)
            browser.save_screenshot(str(args.png))
    server.stop()
    print(f"screenshot of {hub.last_seq} events: {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
