"""Big zones: time and memory from command to first answer, dnslab next to Knot DNS.

Generates zones of N records (a mix of A, AAAA, TXT and CNAME, one RRset per owner, as in
issue 12) and, for each size, measures in one run:

- ``dnslab check-zone``: wall time and peak RSS of the process;
- ``dnslab authoritative --zone``: wall time from the command to the first authoritative
  answer for the LAST record of the file, and the server's peak RSS (VmHWM) at that moment;
- ``knotd`` on the same file (one worker, the configuration of the differential suite):
  the same two figures.

    .venv/bin/python bench/zone_load.py [--sizes 10000,100000,1000000] [--keep DIR]

Prints a Markdown table (plus seconds per 10k records, the linearity check) and the load
average before and after; record results in ``docs/benchmarks.md`` with the command.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

ORIGIN = "big.example."


@dataclass(frozen=True)
class Timing:
    seconds: float  # wall clock, command to result
    rss_mb: float  # peak resident memory
    cpu: float  # CPU seconds (user + system) of the process: the figure a busy machine moves least


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="zone_load.py",
        description=(
            "Generate zones of N records and time dnslab check-zone, dnslab authoritative "
            "(command to first answer) and knotd (the same) on each, with peak memory."
        ),
    )
    parser.add_argument(
        "--sizes",
        default="10000,100000,1000000",
        help="comma-separated record counts (default 10000,100000,1000000)",
    )
    parser.add_argument("--keep", type=Path, help="write the zone files here and keep them")
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="give up on one server after this long (s)"
    )
    parser.add_argument("--only", choices=("knot", "dnslab"), help="measure one server only")
    args = parser.parse_args(argv)
    try:
        args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes {args.sizes!r}: expected numbers such as 10000,100000")
    if not args.sizes or min(args.sizes) < 4:
        parser.error("--sizes: each size must be at least 4")
    return args


def record(i: int) -> str:
    """Record ``i`` of a generated zone: A, AAAA, TXT and CNAME in turn, one owner each."""
    kind = i % 4
    if kind == 0:
        return f"h{i} A 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
    if kind == 1:
        return f"h{i} AAAA 2001:db8::{i >> 16:x}:{i & 0xFFFF:x}"
    if kind == 2:
        return f'h{i} TXT "record {i}"'
    return f"h{i} CNAME h{i - 3}"


def generate(n: int, path: Path) -> str:
    """Write an ``n``-record zone (plus SOA, NS and the NS address); return the last owner."""
    with path.open("w") as out:
        out.write(f"$ORIGIN {ORIGIN}\n$TTL 300\n")
        out.write("@ SOA ns1 hostmaster 1 7200 900 1209600 300\n@ NS ns1\nns1 A 192.0.2.53\n")
        for i in range(n):
            out.write(record(i) + "\n")
    last = n - 1
    while last % 4 != 0:  # the last A record: an answer that is data, not a CNAME
        last -= 1
    return f"h{last}.{ORIGIN}"


def query(name: str) -> bytes:
    wire = b"".join(bytes([len(p)]) + p.encode() for p in name.strip(".").split(".")) + b"\0"
    return bytes.fromhex("beef 0000 0001 0000 0000 0000") + wire + bytes.fromhex("0001 0001")


def answered(host: str, port: int, packet: bytes) -> bool:
    """True once an authoritative NOERROR answer with one record comes back."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.05)
        try:
            s.sendto(packet, (host, port))
            data = s.recv(65535)
        except OSError:
            return False
    return len(data) > 12 and data[:2] == packet[:2] and data[2] & 0x84 == 0x84 and data[7] == 1


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its threads, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_check_zone(path: Path, timeout: float, workdir: Path) -> Timing:
    """Wall time and peak RSS (from wait4, this child alone) of ``dnslab check-zone``."""
    argv = [sys.executable, "-m", "lab.cli", "check-zone", f"{ORIGIN}={path}"]
    log = workdir / "check-zone.log"
    with log.open("wb") as out:
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    deadline = t0 + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise SystemExit(f"check-zone {path}: no result after {timeout:.0f} s")
        time.sleep(0.01)
    seconds = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"check-zone {path} failed: {log.read_text()}")
    return Timing(seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


def time_first_answer(
    name: str, argv: list[str], port: int, packet: bytes, timeout: float, workdir: Path
) -> Timing:
    """Start ``argv``, poll until it answers ``packet`` on ``port``, stop it (by PID)."""
    from lab.procs import ProcessGroup, wait_for

    with ProcessGroup(log_dir=workdir / "logs") as group:
        t0 = time.monotonic()
        child = group.start(name, argv, cwd=REPO)
        wait_for(
            lambda: answered("127.0.0.1", port, packet),
            timeout,
            f"{name}: first answer",
            interval=0.01,
            proc=child.proc,
        )
        seconds = time.monotonic() - t0
        return Timing(seconds, peak_rss_mb(child.pid), cpu_seconds(child.pid))


def bench(args: argparse.Namespace, workdir: Path) -> list[tuple[int, float, dict[str, Timing]]]:
    from tests.integration.knot import Zone, knot_conf, quiet_port

    knotd = shutil.which("knotd") or "/usr/sbin/knotd"
    if args.only != "dnslab" and not Path(knotd).exists():
        raise SystemExit("needs knotd (apt-get install knot), or pass --only dnslab")
    rows = []
    for n in args.sizes:
        path = workdir / f"big-{n}.zone"
        last = generate(n, path)
        packet = query(last)
        size_mb = path.stat().st_size / 1e6
        print(f"# {n} records, {size_mb:.1f} MB: {path}", file=sys.stderr)
        timings: dict[str, Timing] = {}
        if args.only != "knot":
            timings["check-zone"] = time_check_zone(path, args.timeout, workdir)
            port = quiet_port()
            argv = [sys.executable, "-m", "lab.cli", "authoritative"]
            argv += ["--zone", f"{ORIGIN}={path}", "--listen", f"127.0.0.1:{port}"]
            timings["dnslab"] = time_first_answer(
                "dnslab", argv, port, packet, args.timeout, workdir
            )
        if args.only != "dnslab":
            kdir = workdir / f"knot-{n}"
            shutil.rmtree(kdir, ignore_errors=True)
            (kdir / "run").mkdir(parents=True)
            (kdir / "storage").mkdir()
            port = quiet_port()
            conf = kdir / "knot.conf"
            conf.write_text(knot_conf(kdir, "127.0.0.1", port, [Zone(ORIGIN, path)], 1, "error"))
            timings["knot"] = time_first_answer(
                "knotd", [knotd, "-c", str(conf)], port, packet, args.timeout, workdir
            )
        rows.append((n, size_mb, timings))
    return rows


def table(rows: list[tuple[int, float, dict[str, Timing]]]) -> str:
    out = [
        "| records | file MB | check-zone s (CPU s) | check-zone MB "
        "| dnslab first answer s (CPU s) | dnslab MB | Knot first answer s (CPU s) | Knot MB "
        "| dnslab CPU s per 10k records | dnslab/Knot CPU |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def secs(t: Timing | None) -> str:
        return "-" if t is None else f"{t.seconds:.2f} ({t.cpu:.2f})"

    def mb(t: Timing | None) -> str:
        return "-" if t is None else f"{t.rss_mb:.0f}"

    for n, size_mb, t in rows:
        ours, knot, check = t.get("dnslab"), t.get("knot"), t.get("check-zone")
        per = f"{ours.cpu / n * 10000:.3f}" if ours else "-"
        ratio = f"{ours.cpu / knot.cpu:.0f}x" if ours and knot and knot.cpu > 0 else "-"
        out.append(
            f"| {n:,} | {size_mb:.1f} | {secs(check)} | {mb(check)} | {secs(ours)} | {mb(ours)} "
            f"| {secs(knot)} | {mb(knot)} | {per} | {ratio} |"
        )
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = os.getloadavg()[0]
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        rows = bench(args, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="dnslab-zones-") as tmp:
            rows = bench(args, Path(tmp))
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"zone load, sizes {','.join(map(str, args.sizes))}, {when}, {os.cpu_count()} CPUs, "
        f"load average {load_before:.2f} before / {os.getloadavg()[0]:.2f} after\n"
    )
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
