"""The whole lab across containers (compose.yaml) on a real Docker engine.

The module builds the images (testcontainers' ``DockerImage``, own tags, removed afterwards;
the Debian base and the wheelhouse come from docker/images.sh as in ``make images``), starts
every service but Grafana (no registry here: docs/containers.md) with Debian's
docker-compose v1 under its own project name and free loopback ports, and takes it all down
at the end: containers, networks, the config volume and the tagged images.

Drills run as the compose ``drill`` service and are held to the model as the live drill
tests hold the loopback lab (tests/integration/test_drill_live.py).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lab.drill.profiles import HTTP_TIMEOUT_S
from lab.errors import ProcessError
from lab.procs import wait_for
from tests.conftest import REPO, require_tool
from tests.integration.knot import quiet_port

pytestmark = [pytest.mark.containers, pytest.mark.integration, pytest.mark.timeout(900)]

# Settings wide enough for a shared 2-core machine: a region serves 20 clients at 4 requests/s
# each, and a probe gets 0.8 s before it counts as failed.
CHECKS = """
[checks]
interval = 1.0
fall = 2
rise = 2
timeout = 0.8
"""
COMMON = f"""
ttls = [5]
clients = 20
request_interval = 0.25
seed = 7
[locations]
eu = 1
[profiles]
"honours-ttl" = 1
{CHECKS}
"""
KILL = f"""
name = "container kill"
{COMMON.replace("ttls = [5]", "ttls = [10]")}
[[faults]]
at = 2.0
action = "container-kill"
region = "eu-west"
"""
PARTITION = f"""
name = "clients-only partition"
duration = 8.5
{COMMON}
[[faults]]
at = 2.0
action = "partition-clients"
region = "eu-west"
[[faults]]
at = 7.0
action = "heal"
region = "eu-west"
"""
OTHERS = f"""
name = "the other container faults"
duration = 12.0
{COMMON}
[[faults]]
at = 1.0
action = "pause"
region = "eu-west"
[[faults]]
at = 2.0
action = "heal"
region = "eu-west"
[[faults]]
at = 3.0
action = "partition-checkers"
region = "us-east"
[[faults]]
at = 7.0
action = "heal"
region = "us-east"
"""
NETEM = f"""
name = "netem"
duration = 4.0
{COMMON}
[[faults]]
at = 1.0
action = "netem"
region = "ap-south"
params = {{delay_ms = 100, loss_pct = 1}}
[[faults]]
at = 1.5
action = "netem"
region = "us-east"
params = {{link = "resolver-upstream", delay_ms = 50}}
[[faults]]
at = 3.0
action = "heal"
region = "us-east"
[[faults]]
at = 3.2
action = "heal"
region = "ap-south"
"""
SERVICES = [
    "us-east",
    "eu-west",
    "ap-south",
    "vp-na",
    "vp-eu",
    "vp-ap",
    "authoritative",
    "resolver",
    "prometheus",
]  # every service but grafana (its image needs a registry) and the drill (run per test)


LOCK = "/tmp/dnslab-container-tests.lock"
PORT_VARS = (
    "DNSLAB_DNS_PORT",
    "DNSLAB_ADMIN_PORT",
    "DNSLAB_RESOLVER_PORT",
    "DNSLAB_RESOLVER_METRICS_PORT",
    "DNSLAB_PROMETHEUS_PORT",
    "DNSLAB_GRAFANA_PORT",
)


def require_engine() -> str:
    """The docker CLI with an engine answering; skip, or fail under DNSLAB_REQUIRE_SYSTEM_TOOLS=1."""
    docker = require_tool("docker")
    sock = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix("unix://")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2.0)
            s.connect(sock)
    except OSError as exc:
        msg = f"no Docker engine answers on {sock} ({exc.strerror}); start dockerd (.ci/run does)"
        if os.environ.get("DNSLAB_REQUIRE_SYSTEM_TOOLS") == "1":
            pytest.fail(msg + " and DNSLAB_REQUIRE_SYSTEM_TOOLS=1")
        pytest.skip(msg)
    return docker


@dataclass
class ComposeLab:
    compose: str
    project: str
    env: dict[str, str]
    scenarios: Path
    runs: Path

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.compose, "-p", self.project, "-f", str(REPO / "compose.yaml"), *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def run_drill(self, name: str, text: str) -> subprocess.CompletedProcess[str]:
        (self.scenarios / f"{name}.toml").write_text(text)
        return self.run(
            *("run", "--rm", "drill", "containers", "drill", f"/src/scenarios/{name}.toml"),
            *("--config", "/config/lab.toml", "--out", f"/runs/{name}"),
        )

    def drill(self, name: str, text: str) -> dict[str, object]:
        done = self.run_drill(name, text)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        doc = json.loads((self.runs / name / "results.json").read_text())
        assert isinstance(doc, dict)
        return doc

    @property
    def port(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.env.items() if k.endswith("_PORT")}


def _build(path: Path, tag: str) -> str:
    """Build with testcontainers (no registry: --network=none). Removal is by tag, below: its
    ``remove()`` deletes by image id with force, which would also drop a user's identical
    ``dnslab:latest``."""
    from testcontainers.core.image import DockerImage

    DockerImage(path=str(path), tag=tag, clean_up=False, network_mode="none").build()
    return tag


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeLab]:
    docker = require_engine()
    compose = require_tool("docker-compose")
    require_tool("mmdebstrap")
    # the lab's subnets are fixed: one run per engine at a time (other worktrees' suites wait)
    lock = open(LOCK, "w")  # noqa: SIM115 (held until the fixture ends)
    fcntl.flock(lock, fcntl.LOCK_EX)
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # Ryuk needs a registry pull
    for step in ("base", "wheelhouse", "debs"):
        done = subprocess.run(
            ["bash", str(REPO / "docker" / "images.sh"), step],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"docker/images.sh {step}: {done.stderr[-3000:]}"
    uid = uuid.uuid4().hex[:8]
    tmp = tmp_path_factory.mktemp("compose")
    scenarios, runs = tmp / "scenarios", tmp / "runs"
    scenarios.mkdir()
    runs.mkdir()
    images = [
        _build(REPO, f"dnslab-test-{uid}:latest"),
        _build(REPO / "build" / "prometheus-debs", f"dnslab-prometheus-test-{uid}:latest"),
    ]
    (scenarios / "lab.toml").write_text(KILL)
    env = {
        **os.environ,
        "DNSLAB_IMAGE": f"dnslab-test-{uid}:latest",
        "DNSLAB_PROMETHEUS_IMAGE": f"dnslab-prometheus-test-{uid}:latest",
        "DNSLAB_SCENARIOS": str(scenarios),
        "DNSLAB_RUNS": str(runs),
        "DNSLAB_SCENARIO": "/src/scenarios/lab.toml",  # TTL 2, checks every 0.5 s
        **{var: str(quiet_port("127.0.0.1")) for var in PORT_VARS},
    }
    cl = ComposeLab(compose, f"dnslabtest{uid}", env, scenarios, runs)
    try:
        up = cl.run("up", "-d", *SERVICES)
        if up.returncode != 0 and "port is already allocated" in up.stderr:
            cl.run("down", "--volumes", "--remove-orphans", "--timeout", "2")
            cl.env.update({var: str(quiet_port("127.0.0.1")) for var in PORT_VARS})
            up = cl.run("up", "-d", *SERVICES)  # another program took a port meanwhile
        assert up.returncode == 0, up.stderr[-4000:]
        yield cl
    finally:
        down = cl.run("down", "--volumes", "--remove-orphans", "--timeout", "2")
        for tag in images:  # untag only: layers shared with other tags stay
            subprocess.run([docker, "image", "rm", tag], capture_output=True, timeout=120)
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
        assert down.returncode == 0, down.stderr[-2000:]


def kernel_has_netem() -> bool:
    """False when the running kernel was built without sch_netem (and cannot load it)."""
    import gzip

    try:
        with gzip.open("/proc/config.gz", "rt") as fh:
            config = fh.read()
    except OSError:
        return True  # no config to read: expect the usual modular kernel
    return "CONFIG_NET_SCH_NETEM=y" in config or "CONFIG_NET_SCH_NETEM=m" in config


def _dig(port: int, server: str = "127.0.0.1") -> list[str]:
    dig = require_tool("dig")
    out = subprocess.run(
        [
            dig,
            "+short",
            "+time=2",
            "+tries=2",
            f"@{server}",
            "-p",
            str(port),
            "www.lab.example",
            "A",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return out.stdout.split()


def test_the_lab_answers_dig_on_the_published_loopback_ports(lab: ComposeLab) -> None:
    # from the host the query is NATed (source: the bridge gateway): no location, default order
    assert _dig(lab.port["DNSLAB_DNS_PORT"]) == ["172.30.8.11"]
    assert _dig(lab.port["DNSLAB_RESOLVER_PORT"]) == ["172.30.8.11"]


def test_prometheus_scrapes_every_component(lab: ComposeLab) -> None:
    """Every component's /metrics has been scraped (``up`` was 1 at some scrape): on a loaded
    machine one slow scrape may fail, which is not what this test is about."""
    import urllib.parse
    import urllib.request

    base = f"http://127.0.0.1:{lab.port['DNSLAB_PROMETHEUS_PORT']}/api/v1"
    expected = ["authoritative", *["healthcheck"] * 3, *["regions"] * 3, "resolver"]

    def get(path: str) -> list[dict[str, Any]]:
        with urllib.request.urlopen(base + path, timeout=5) as resp:
            data = json.loads(resp.read())["data"]
        return list(data["activeTargets"] if "activeTargets" in data else data["result"])

    def scraped() -> list[dict[str, Any]]:
        query = urllib.parse.quote("max_over_time(up[10m]) == 1")
        try:
            return get(f"/query?query={query}")
        except OSError:
            return []

    try:
        wait_for(lambda: len(scraped()) == len(expected), 90, "every component scraped once")
    except ProcessError:
        targets = [(t["scrapeUrl"], t["health"], t["lastError"]) for t in get("/targets")]
        raise AssertionError(f"not every target was scraped: {targets}") from None
    jobs = sorted(str(r["metric"]["job"]) for r in scraped())
    assert jobs == expected


def _drill_once_undisturbed(lab: ComposeLab, name: str, text: str) -> dict[str, Any]:
    """As the live drill test: a probe that timed out before the fault (an overloaded machine)
    shortens detection below the model's; then the drill runs once more."""
    for attempt in (1, 2):
        run: dict[str, Any] = lab.drill(f"{name}{attempt}", text)["runs"][0]  # type: ignore[index]
        if run["prefault_streak_s"] is None:
            return run
    raise AssertionError(f"probes failed before the fault twice: {run['notes']}")


def _brief(run: dict[str, Any]) -> str:
    keep = ("detection_s", "propagation_s", "stale_window_s", "model", "events", "notes")
    return json.dumps({k: run[k] for k in keep}, indent=1)


def test_container_kill_windows_match_the_model(lab: ComposeLab) -> None:
    """A killed container's addresses vanish: probes time out (τ includes the timeout), and a
    client's request there hangs for the drill's HTTP timeout h. A hung client re-resolves up
    to h late (after the answer changed, some that would have fetched the dead region again
    do not) and sends its last request there up to h early: the mean window is about h below
    the busy-client model's (docs/containers.md), hence TTL 10 and a bound derived from h."""
    run = _drill_once_undisturbed(lab, "kill", KILL)
    w, m = run["stale_window_s"], run["model"]
    assert run["dead_region"] == "eu-west" and run["ttl"] == 10
    assert run["clients_affected"] == 20 and run["censored"] == 0, run["notes"]
    # (F-1)·I .. F·I + timeout: mostly timeouts, but a dying container may still reset the
    # probe's connection (no timeout); 1 s more for the engine and a loaded machine
    assert run["detection_s"] is not None and 1.0 - 0.2 <= run["detection_s"] <= 2.8 + 1.0, _brief(
        run
    )
    # the answer changes at the quorum's 2nd "down": up to one probe interval + timeout after
    # vantage point 0 (the one the drill watches), or before it (then propagation is 0)
    assert run["propagation_s"] is not None and run["propagation_s"] < 1.0 + 0.8 + 0.5, _brief(run)
    assert w["max"] <= m["max_s"] + 1.0, _brief(run)
    # the model with this run's detection and propagation; the clients' remaining cache lives
    # are uniform in [0, TTL]: their mean over n clients spreads by sigma = TTL / sqrt(12 n)
    given = m["given_measured_detection"]["mean_s"]
    sigma = 10 / (12 * 20) ** 0.5
    assert given - HTTP_TIMEOUT_S - 3 * sigma <= w["mean"] <= given + 3 * sigma, _brief(run)
    events = [e[1] for e in run["events"]]
    assert any(e.startswith("SIGKILL container eu-west") for e in events), "\n".join(events)
    # the lab whole again for the next drills (a `restart` step can take longer than a run
    # on a loaded machine: docker start, then Python and uvicorn)
    up = lab.run("up", "-d", "eu-west")
    assert up.returncode == 0, up.stderr[-2000:]


def test_clients_only_partition_is_never_failed_over(lab: ComposeLab) -> None:
    """The checkers still reach eu-west, so nothing fails over: clients are stale until healed
    (the model: the fault's duration, less the phase of each client's last request)."""
    run = lab.drill("partition", PARTITION)["runs"][0]  # type: ignore[index]
    w, m = run["stale_window_s"], run["model"]
    assert run["dead_region"] == "eu-west"
    healed = run["fault"]["recovered_at_s"] - run["fault"]["at_s"]
    # no checker saw it down while it was cut off (a loaded machine may flap it afterwards)
    downs = [t for t, e in run["events"] if e.startswith("checker: eu-west up → down")]
    assert not [t for t in downs if t < run["fault"]["recovered_at_s"]], _brief(run)
    assert run["detection_s"] is None or run["detection_s"] > healed, _brief(run)
    # all still sent there when it healed: nothing ever failed over ("censored" at the heal)
    assert run["clients_affected"] == 20 and run["censored"] == 20
    assert m["max_s"] == pytest.approx(healed, abs=1e-3)
    assert w["max"] <= healed + 0.1, _brief(run)
    # the last request before the heal began up to one hang (HTTP timeout) + interval earlier
    assert healed - HTTP_TIMEOUT_S - 0.25 <= w["mean"] <= healed, _brief(run)
    assert run["failed_requests"] >= 20 * 3  # every client failed for ~5 s


def test_pause_and_checkers_only_partition_take_effect_and_heal(lab: ComposeLab) -> None:
    run = lab.drill("others", OTHERS)["runs"][0]  # type: ignore[index]
    events = [e[1] for e in run["events"]]
    assert not [e for e in events if "FAILED" in e], events
    for expected in (
        "paused container eu-west",
        "healed eu-west: unpaused",
        "disconnected us-east from the checks network",
        "healed us-east: reconnected 172.30.4.11",
    ):
        assert any(e.startswith(expected) for e in events), f"{expected!r} not in\n" + "\n".join(
            events
        )
    # cut off from the checkers, us-east is failed over although clients could still reach it
    assert any("checker: us-east up → down" in e for e in events), events
    assert _dig(lab.port["DNSLAB_DNS_PORT"]) == ["172.30.8.11"]  # the lab is whole again


def test_netem_on_a_region_link_and_on_the_resolver_upstream(lab: ComposeLab) -> None:
    """Where the kernel has sch_netem both links get it and heal; this machine's kernel has
    neither netem nor prio (CONFIG_NET_SCH_NETEM is not set): then the drill fails, naming the
    step and the kernel's refusal, instead of reporting faults that never happened."""
    if kernel_has_netem():
        run = lab.drill("netem", NETEM)["runs"][0]  # type: ignore[index]
        events = [e[1] for e in run["events"]]
        for expected in (
            "netem delay 100ms loss 1% on ap-south's client link",
            "netem delay 50ms on the resolver's upstream link",
            "healed us-east: netem removed",
            "healed ap-south: netem removed",
        ):
            assert any(e.startswith(expected) for e in events), (expected, events)
        return
    done = lab.run_drill("netem", NETEM)
    assert done.returncode != 0
    doc = json.loads((lab.runs / "netem" / "results.json").read_text())
    events = [e[1] for e in doc["runs"][0]["events"]]
    failed = [e for e in events if "FAILED" in e]
    assert failed, events
    assert all("Specified qdisc kind is unknown" in e for e in failed), failed
    assert failed[0].startswith("netem ap-south FAILED: netem ap-south: tc qdisc replace dev eth")
