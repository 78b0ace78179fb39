"""The live page's snapshot and the hub's memory on a big drill (lab/web/hub.py, model.py).

Runs one simulated drill (scenarios/default.toml, ``--clients``, ``--ttl``, and
``--interval`` seconds between a client's requests: 10 s for 10,000 clients is the live
drill's ~1000 requests/s ceiling) three times, each in a fresh process, side by side:

- ``null``: the drill publishing to a sink that drops every event (the reference RSS);
- ``hub``: the drill publishing to the page's ``EventHub`` (model + the kept events);
- ``events``: what a snapshot of every event would be (the design before the model): the
  same JSON lines, counted, not kept.

    .venv/bin/python bench/web_snapshot.py [--clients 10000] [--ttl 5,15] [--interval 10]

Prints events, snapshot bytes, RSS after the drill and its difference to ``null``; record
results in ``docs/benchmarks.md`` with the command.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(mode: str, clients: int, ttls: str, interval: float) -> dict[str, Any]:
    from lab.drill.events import CallbackSink, DrillEvent, EventSink
    from lab.drill.runner import DrillOptions, run_drill
    from lab.web.hub import EventHub, event_dict

    hub = EventHub({"regions": ["eu-west", "us-east", "ap-south"]})
    lines = {"n": 0, "bytes": 0}

    def count(e: DrillEvent) -> None:
        doc = {**event_dict(e), "seq": lines["n"] + 1, "wall": round(time.time(), 4)}
        lines["n"] += 1
        lines["bytes"] += len(json.dumps(doc, separators=(",", ":"))) + 1

    sink: EventSink = hub if mode == "hub" else CallbackSink(count if mode == "events" else id)
    with tempfile.TemporaryDirectory() as tmp:
        text = (ROOT / "scenarios" / "default.toml").read_text()
        scenario = Path(tmp) / "big.toml"
        scenario.write_text(
            text.replace("request_interval = 0.2", f"request_interval = {interval}")
        )
        opts = DrillOptions(
            scenario=scenario, ttls=[int(t) for t in ttls.split(",")], clients=clients,
            sim=True, out=Path(tmp) / "out", sinks=(sink,), request_rows=False,
        )  # fmt: skip
        t0 = time.process_time()
        rc = run_drill(opts, io.StringIO(), io.StringIO())
        cpu = time.process_time() - t0
    out: dict[str, Any] = {"mode": mode, "rc": rc, "cpu_s": round(cpu, 2), "rss_mb": rss_mb()}
    if mode == "hub":
        seq, snap = hub.snapshot()
        out.update(events=seq, snapshot_bytes=len(snap.encode()))
    elif mode == "events":
        out.update(events=lines["n"], snapshot_bytes=lines["bytes"])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--clients", type=int, default=10_000)
    ap.add_argument("--ttl", default="5,15")
    ap.add_argument("--interval", type=float, default=10.0)
    ap.add_argument("--child", choices=("null", "hub", "events"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.clients, args.ttl, args.interval)))
        return 0
    rows = []
    for mode in ("null", "hub", "events"):
        cmd = [sys.executable, __file__, "--child", mode, "--clients", str(args.clients),
               "--ttl", args.ttl, "--interval", str(args.interval)]  # fmt: skip
        res = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
        rows.append(json.loads(res.stdout.splitlines()[-1]))
    null = rows[0]["rss_mb"]
    print(f"{args.clients} clients, TTL {args.ttl}, a request every {args.interval:g} s per client")
    print("| sink | events | snapshot | RSS after the drill | RSS - null | drill CPU |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        snap = f"{r['snapshot_bytes'] / 1e6:.3f} MB" if "snapshot_bytes" in r else "—"
        print(
            f"| {r['mode']} | {r.get('events', '—')} | {snap} | {r['rss_mb']:.0f} MB "
            f"| {r['rss_mb'] - null:+.0f} MB | {r['cpu_s']:.1f} s |"
        )
    return 0 if all(r["rc"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
