"""``dnslab up``: the whole lab on loopback as child processes, stopped by PID.

``plan_lab`` (pure) turns a validated ``LabConfig`` into the list of components to start;
``Lab`` (shell) starts them via ``lab.procs.ProcessGroup``, waits until each is ready (its
``ready ...`` stdout line or a working endpoint, with a deadline) and stops all of them on
exit, Ctrl-C, SIGTERM or a failure. ``run_up`` is the command: start, print what runs where,
show a compact live status until interrupted.

Control plane (docs/security.md): ``prepare_control`` finds the lab secret (the one lab.toml
or ``DNSLAB_SECRET_FILE`` names, else the per-user default, ``lab.auth.secret_file``) and the
authoritative server's health-state file; ``plan_lab`` passes both to every child, so feeds are signed, regions prove themselves
and fault APIs take their token without the user typing anything. ``run_up`` records the
running lab (control addresses, secret path) in ``runs/up-current.json`` for ``drill --attach``,
with the count of its own probe queries (status line, live page), rewritten as they go, so an
attached drill can take them out of the authoritative server's query count.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from lab.config_refs import listeners
from lab.drill.netclient import Counts, QueryCount
from lab.errors import ConfigError, ProcessError
from lab.procs import Child, ProcessGroup, free_port, http_ready, udp_dns_ready, wait_for

if TYPE_CHECKING:
    from lab.config import LabConfig

READY_TIMEOUT_S = 30.0
# zone loading is linear (bench/zone_load.py: about 0.9 MB of zone text per CPU second);
# readiness allows 4.5x that for a busy machine: 1 s per 200 kB of zone files, on top of the rest
ZONE_BYTES_PER_S = 200_000
CURRENT_FILE = Path("runs") / "up-current.json"  # the running `dnslab up` (for --attach)
PIDS_FILE = "pids.txt"  # every child this lab started, "NAME PID" per line (for audits/tests)  # python + uvicorn imports on a busy 2-core machine can take seconds


def _hp(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host, int(port)


@dataclass(frozen=True)
class Component:
    name: str  # "region eu-west", "healthcheck local", "authoritative", "resolver"
    kind: str  # region | healthcheck | authoritative | resolver
    argv: tuple[str, ...]
    address: str  # what to show: where it serves
    url: str | None = None  # an HTTP endpoint that answers once it is ready
    dns: str | None = None  # a DNS endpoint that answers once it is ready
    region: str | None = None
    control: str | None = None  # a region's never-faulted control address
    load_allowance: float = 0.0  # extra readiness seconds: the authoritative's zone loading
    secret_file: str | None = None  # the lab secret the component was given


@dataclass(frozen=True)
class ControlFiles:
    """What ``plan_lab`` hands to the children: the lab secret and the health-state file."""

    secret_file: str | None
    health_state: str | None
    secret_from: str = ""  # where the secret came from: --secret-file, env, lab.toml, default


def prepare_control(cfg: LabConfig, state_dir: Path) -> ControlFiles:
    """The lab secret the children get (``LabConfig.secret_path``: a configured one, else the
    per-user default, none when control.auth = "off"), checked before anything starts, and
    where the authoritative server keeps its health view (in ``state_dir`` by default)."""
    from lab.auth import read_secret

    health = cfg.authoritative.health_state
    health_path = str(cfg.path(health)) if health else str(state_dir / "health-state.json")
    src = cfg.secret_path(None, "dnslab up")
    if src is None:
        return ControlFiles(None, health_path)
    read_secret(*src)  # a bad file stops here, naming it, not in every child
    return ControlFiles(str(src[0].resolve()), health_path, src[1])


def dnslab_argv(python: str = sys.executable) -> tuple[str, ...]:
    """``python -m lab.cli``, wrapped so the child dies with this process even if this process
    is SIGKILLed (``lab.drill.pdeathsig``)."""
    return (python, "-m", "lab.drill.pdeathsig", str(os.getpid()), python, "-m", "lab.cli")


def zone_load_allowance(cfg: LabConfig) -> float:
    """Seconds the authoritative server may need to load its zone files (by their size); a
    missing file counts 0 (the server then exits with the error, and that is reported)."""
    size = 0
    for path in cfg.authoritative.zones.values():
        with contextlib.suppress(OSError):
            size += cfg.path(path).stat().st_size
    return size / ZONE_BYTES_PER_S


def plan_lab(
    cfg: LabConfig,
    config_path: Path,
    control_port: Callable[[str], int] | None = None,
    python: str = sys.executable,
    files: ControlFiles | None = None,
) -> list[Component]:
    """What runs where: regions, then checkers, the authoritative server, the resolver."""
    base = dnslab_argv(python)
    conf = ("--config", str(config_path))
    secret = files.secret_file if files else None
    sec = ("--secret-file", secret) if secret else ()
    out: list[Component] = []
    configured = {value.lower() for _, value, _ in listeners(cfg)}

    def control_of(host: str, pick: Callable[[str], int]) -> str:
        """A control address on ``host`` that no configured listener uses: the port picker
        cannot know the ports lab.toml names but nothing has bound yet."""
        for _ in range(20):
            addr = f"{host}:{pick(host)}"
            if addr.lower() not in configured:
                return addr
        raise ConfigError(f"{cfg.source}: no control port on {host} apart from lab.toml's")

    for name, region in cfg.regions.items():
        if not region.listen:
            continue  # a region without a backend here (answers only)
        argv = (*base, "region", "--name", name, "--listen", region.listen, *sec)
        control = None
        if control_port is not None:
            control = control_of(_hp(region.listen)[0], control_port)
            argv += ("--control", control)
        out.append(
            Component(
                f"region {name}",
                "region",
                argv,
                region.listen,
                url=f"http://{control or region.listen}/healthz",
                region=name,
                control=control,
                secret_file=secret,
            )
        )
    if not out:
        raise ConfigError(f"{cfg.source}: regions: no region has a 'listen' address to run")
    for chk in cfg.checkers:
        argv = (*base, "healthcheck", *conf, "--listen", chk.listen, "--name", chk.name, *sec)
        out.append(
            Component(
                f"healthcheck {chk.name}",
                "healthcheck",
                argv,
                chk.listen,
                url=f"http://{chk.listen}/v1/status",
            )
        )
    auth = cfg.authoritative
    argv = (
        *base,
        "authoritative",
        *conf,
        "--listen",
        auth.listen,
        "--admin",
        auth.admin_listen,
        *sec,
        *(("--health-state", files.health_state) if files and files.health_state else ()),
    )
    out.append(
        Component(
            "authoritative",
            "authoritative",
            argv,
            f"{auth.listen} (admin {auth.admin_listen})",
            dns=auth.listen,
            load_allowance=zone_load_allowance(cfg),
        )
    )
    res = cfg.resolver
    argv = (
        *base,
        "resolver",
        *conf,
        "--upstream",
        auth.listen,
        "--listen",
        res.listen,
        "--metrics",
        res.metrics_listen,
    )
    out.append(
        Component(
            "resolver",
            "resolver",
            argv,
            f"{res.listen} (metrics {res.metrics_listen})",
            dns=res.listen,
        )
    )
    return out


def saw_ready(child: Child, offset: int = 0) -> bool:
    """True once the child printed its ``ready ...`` line (its stdout goes to its log,
    from byte ``offset`` on: a restarted child appends to the same log)."""
    if child.log_path is None or not child.log_path.exists():
        return False
    with child.log_path.open("rb") as fh:
        fh.seek(offset)
        return any(line.startswith(b"ready ") for line in fh)


def _ready_check(comp: Component, child: Child, offset: int = 0) -> Callable[[], bool]:
    endpoint: Callable[[], bool] | None = None
    if comp.url:
        endpoint = http_ready(comp.url)
    elif comp.dns:
        endpoint = udp_dns_ready(*_hp(comp.dns))

    def check() -> bool:
        return saw_ready(child, offset) and (endpoint is None or endpoint())

    return check


@dataclass
class Lab:
    """The running lab: children by component name, all stopped together."""

    components: list[Component]
    log_dir: Path
    group: ProcessGroup = field(init=False)
    children: dict[str, Child] = field(default_factory=dict)
    offsets: dict[str, int] = field(default_factory=dict)  # log size when each child started

    def __post_init__(self) -> None:
        self.group = ProcessGroup(log_dir=self.log_dir)

    def start(
        self,
        timeout: float = READY_TIMEOUT_S,
        on_ready: Callable[[Component, Child, float], None] | None = None,
    ) -> None:
        """Start every component at once (each retries its peers), then wait for each."""
        t0 = time.monotonic()
        try:
            for comp in self.components:
                self._spawn(comp)
            deadline = t0 + timeout + sum(c.load_allowance for c in self.components)
            for comp in self.components:
                child = self.children[comp.name]
                left = max(0.1, deadline - time.monotonic())
                self.group.wait_ready(
                    child, _ready_check(comp, child, self.offsets[comp.name]), timeout=left
                )
                if on_ready is not None:
                    on_ready(comp, child, time.monotonic() - t0)
        except BaseException:
            self.stop()
            raise

    def _spawn(self, comp: Component) -> Child:
        """Start one component and append "NAME PID" to ``pids.txt`` in the log directory."""
        log = self.log_dir / f"{_log_name(comp.name)}.log"
        self.offsets[comp.name] = log.stat().st_size if log.exists() else 0
        child = self.group.start(_log_name(comp.name), comp.argv)
        self.children[comp.name] = child
        with (self.log_dir / PIDS_FILE).open("a") as fh:
            fh.write(f"{_log_name(comp.name)} {child.pid}\n")
        return child

    def child(self, name: str) -> Child:
        return self.children[name]

    def region(self, name: str) -> tuple[Component, Child]:
        comp = next((c for c in self.components if c.region == name), None)
        if comp is None:
            raise ProcessError(f"region {name!r} is not running in this lab")
        return comp, self.children[comp.name]

    def respawn(self, name: str) -> tuple[Child, Callable[[], bool]]:
        """Stop ``name`` (if alive) and start it again; returns the child and its readiness
        check. Call it from the thread that stops the lab, so no child starts after a stop."""
        comp = next(c for c in self.components if c.name == name)
        self.children[name].stop()
        child = self._spawn(comp)
        return child, _ready_check(comp, child, self.offsets[name])

    def restart(self, name: str, timeout: float = READY_TIMEOUT_S) -> Child:
        child, ready = self.respawn(name)
        comp = next(c for c in self.components if c.name == name)
        self.group.wait_ready(child, ready, timeout=timeout + comp.load_allowance)
        return child

    def pids(self) -> list[int]:
        return [c.pid for c in self.group.children]

    def stop(self) -> None:
        """Stop every child by PID; a second Ctrl-C/SIGTERM cannot interrupt this."""
        if threading.current_thread() is threading.main_thread():
            with signals_ignored():
                self.group.stop_all()
        else:
            self.group.stop_all()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _log_name(name: str) -> str:
    return name.replace(" ", "-")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM (and SIGHUP) into KeyboardInterrupt so the same cleanup path runs."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    """Ignore SIGINT/SIGTERM/SIGHUP (a second Ctrl-C must not interrupt the cleanup)."""
    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    old = {s: signal.signal(s, signal.SIG_IGN) for s in sigs}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def write_current(
    comps: list[Component], files: ControlFiles, config: Path
) -> Callable[[Counts], None]:
    """Record the running lab for ``dnslab drill --attach`` (fault APIs are on control ports)
    with no probe query yet; returns the function that records the lab's probe count
    (``netclient.QueryCount.on_change``: every query of the status line and the live page,
    so an attached drill can take them out of the authoritative server's count)."""
    import json

    doc = {
        "pid": os.getpid(),
        "config": str(config),
        "secret_file": files.secret_file,
        "secret_from": files.secret_from,
        "control": {c.region: c.control for c in comps if c.region and c.control},
    }
    CURRENT_FILE.parent.mkdir(parents=True, exist_ok=True)
    tmp = CURRENT_FILE.with_name(CURRENT_FILE.name + ".tmp")

    def publish(probes: Counts) -> None:  # callers are serialised (QueryCount's lock)
        tmp.write_text(json.dumps({**doc, "probes": probes.as_dict()}, indent=2) + "\n")
        os.replace(tmp, CURRENT_FILE)  # a reader sees the old record or the new, never half

    publish(Counts())
    return publish


def read_current() -> dict[str, object] | None:
    """The running `dnslab up` (``write_current``), if its process is still alive."""
    import json

    try:
        doc = json.loads(CURRENT_FILE.read_text())
        os.kill(int(doc["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return doc if isinstance(doc, dict) else None


def current_secret(doc: dict[str, object] | None) -> tuple[str, str] | None:
    """(path, where) of the running lab's secret (``write_current``): ``where`` as
    ``lab.auth.secret_file`` named it, so ``read_secret`` makes the same checks (for the
    per-user default: owned by this user) as the ``dnslab up`` that chose it."""
    path = doc.get("secret_file") if doc else None
    if not isinstance(path, str):
        return None
    where = doc.get("secret_from") if doc else None
    return path, where if isinstance(where, str) and where else "--secret-file"


def current_probes(doc: dict[str, object]) -> Callable[[], Counts | None]:
    """Reads the probe count the `dnslab up` of ``doc`` (``read_current``) publishes; None
    when it cannot (that lab stopped, another one runs, or it records no count)."""
    pid = doc.get("pid")

    def read() -> Counts | None:
        now = read_current()
        if now is None or now.get("pid") != pid:
            return None
        return Counts.from_doc(now.get("probes"))

    return read


def clear_current() -> None:
    doc = read_current()
    if doc is not None and doc.get("pid") == os.getpid():
        with contextlib.suppress(OSError):
            CURRENT_FILE.unlink()


def wait_all_up(status_url: str, regions: list[str], timeout: float) -> None:
    """Wait until the checker reports every region up (so a drill starts from a healthy lab)."""
    from lab.drill.observe import fetch_states

    def ok() -> bool:
        states = fetch_states(status_url)
        return all(states.get(r) == "up" for r in regions)

    try:
        wait_for(ok, timeout, f"checker {status_url}: all regions up", interval=0.05)
    except ProcessError:
        states = fetch_states(status_url)
        seen = (
            ", ".join(f"{r}={states.get(r, 'unknown')}" for r in regions) if states else "no answer"
        )
        raise ProcessError(
            f"checker {status_url} does not report every region up after {timeout:.0f}s "
            f"({seen}); a region killed by an earlier drill stays dead: restart `dnslab up`"
        ) from None


def run_up(
    config: Path | None,
    log_root: Path | None = None,
    status_every: float = 2.0,
    prometheus: str | None = None,
    drill_metrics: str = "127.0.0.1:9310",
    web: str | None = None,
) -> int:
    """Start the lab, print what runs where, show a live status until Ctrl-C/SIGTERM, stop all.
    With ``prometheus`` (a HOST:PORT) also a local Prometheus scraping it (``lab.prometheus``);
    with ``web`` (a HOST:PORT) the live page of the lab's health and answers (``lab.web``)."""
    from lab.config import load_config
    from lab.drill.runner import config_path
    from lab.drill.status import status_line

    cfg_file = config_path(config).resolve()
    cfg = load_config(cfg_file)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    log_dir = (log_root or Path("runs") / f"up-{stamp}") / "logs"
    files = prepare_control(cfg, log_dir.parent)
    comps = plan_lab(cfg, cfg_file, control_port=free_port, files=files)
    print(f"dnslab up: {len(comps)} processes from {cfg_file}; logs in {log_dir}", flush=True)
    auth = (
        f"secret {files.secret_file} ({files.secret_from})"
        if files.secret_file
        else "UNAUTHENTICATED (auth off)"
    )
    print(f"  control plane: {auth}; health view saved in {files.health_state}", flush=True)

    def on_ready(comp: Component, child: Child, after: float) -> None:
        extra = f" control {comp.control}" if comp.control else ""
        print(
            f"  ready  {comp.name:<22} pid {child.pid:<7} {comp.address}{extra}  ({after:.1f}s)",
            flush=True,
        )

    lab = Lab(comps, log_dir)
    probes: QueryCount | None = None
    tty = sys.stdout.isatty()
    with sigterm_as_interrupt(), contextlib.ExitStack() as stack:
        try:
            lab.start(on_ready=on_ready)
            # the status line's and the live page's queries, recorded for drill --attach
            probes = QueryCount(write_current(comps, files, cfg_file))
            if prometheus is not None:
                workdir = log_dir.parent / "prometheus"
                _start_prometheus(lab, cfg, comps, workdir, prometheus, drill_metrics)
            if web is not None:
                _start_web(stack, cfg, web, files.secret_file, probes)
            print(
                f"lab ready: dig @{cfg.authoritative.listen.replace(':', ' -p ')} www.lab.example; "
                "Ctrl-C stops everything",
                flush=True,
            )
            while True:
                line = status_line(cfg, lab, probes)
                print(
                    ("\r" + line.ljust(110)) if tty else line, end="" if tty else "\n", flush=True
                )
                time.sleep(status_every)
        except KeyboardInterrupt:
            print("\nstopping ...", flush=True)
        finally:
            n = len(lab.children)
            if probes is not None:
                probes.stop_reporting()  # the live page may still probe: record no more
            lab.stop()
            clear_current()
            print(f"stopped {n} processes", flush=True)
    return 0


def _start_web(
    stack: contextlib.ExitStack,
    cfg: LabConfig,
    listen: str,
    secret_file: str | None,
    probes: QueryCount,
) -> None:
    """The live page: the checker's decisions and the answers per location (lab.web.labwatch);
    its answer queries go into ``probes``."""
    from lab.web.labwatch import LabWatch
    from lab.web.server import serving_hub

    meta = {"title": "dnslab — lab health", "regions": list(cfg.regions), "source": "up"}
    hub = stack.enter_context(serving_hub(listen, meta, sys.stdout))
    if hub is not None:
        stack.callback(LabWatch(cfg, hub, secret_file, probes).start().stop)


def _start_prometheus(
    lab: Lab, cfg: LabConfig, comps: list[Component], workdir: Path, listen: str, drill: str
) -> None:
    from lab import prometheus as prom
    from lab.pkgdata import rules_dir

    rules = sorted(p for p in rules_dir().glob("*.rules.yml"))
    conf = prom.scrape_config(cfg, comps, drill, [p.resolve() for p in rules])
    child = prom.start(lab.group, conf, workdir, listen)
    lab.children["prometheus"] = child  # in the status line's dead list and the stop count
    with (lab.log_dir / PIDS_FILE).open("a") as fh:
        fh.write(f"prometheus {child.pid}\n")
    print(
        f"  ready  {'prometheus':<22} pid {child.pid:<7} http://{listen}  "
        f"(config {workdir / 'prometheus.yml'}; drill metrics scraped at {drill})",
        flush=True,
    )
    print(f"  {prom.grafana_hint(listen)}", flush=True)
