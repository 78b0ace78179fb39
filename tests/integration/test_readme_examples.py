"""The README's authoritative examples print what Knot DNS prints for the same zone.

Every ``dig @127.0.0.1 -p ...`` line of the ```sh blocks between the
``<!-- section:authoritative -->`` markers is run twice — against ``dnslab authoritative``
started on the zone the README names, and against knotd on the same zone — with the port
substituted. The two outputs must be the same after removing what differs between any two
runs (message ID, timing, server address, message size) and masking the server's own name
(CH TXT id.server / version.bind). ``tests/integration/test_authoritative_readme.py`` (core's)
runs the block itself; this file checks what the answers say.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.procs import ProcessGroup
from tests.conftest import REPO, require_tool
from tests.integration.knot import Endpoint, Zone, start_knot
from tests.integration.servers import start_dnslab

pytestmark = [pytest.mark.integration, pytest.mark.system]

START = "<!-- section:authoritative -->"
END = "<!-- /section:authoritative -->"
NOISE = re.compile(
    r"^(; <<>> DiG|; \(\d+ server|;; global options|;; Got answer|;; Query time"
    r"|;; SERVER:|;; WHEN:|;; MSG SIZE|$)"
)


def readme_blocks(readme: Path = REPO / "README.md") -> list[list[str]]:
    """The ```sh blocks of the authoritative section that contain a ``dig @127.0.0.1 -p``."""
    text = readme.read_text()
    section = text[text.index(START) : text.index(END)]
    blocks = [b.splitlines() for b in re.findall(r"```sh\n(.*?)```", section, re.S)]
    return [b for b in blocks if any("dig @127.0.0.1 -p" in line for line in b)]


def dig_lines() -> list[str]:
    return [
        line.strip()
        for block in readme_blocks()
        for line in block
        if line.strip().startswith("dig @127.0.0.1 -p")
    ]


def readme_zones() -> list[Zone]:
    """The zones of the ``dnslab authoritative --zone ...`` line: ORIGIN=FILE or $ORIGIN."""
    zones = []
    for block in readme_blocks():
        for line in block:
            words = shlex.split(line.rstrip("&"))
            if "authoritative" not in words:
                continue
            for i, word in enumerate(words):
                if word == "--zone":
                    zones.append(zone_of(words[i + 1]))
    assert zones, "the README's authoritative block starts no server with --zone"
    return zones


def zone_of(arg: str) -> Zone:
    if "=" in arg:
        origin, file = arg.split("=", 1)
        return Zone(origin, REPO / file)
    path = REPO / arg
    match = re.search(r"^\$ORIGIN\s+(\S+)", path.read_text(), re.M)
    assert match, f"{arg}: no $ORIGIN and no ORIGIN= in the README"
    return Zone(match.group(1), path)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Endpoint, Endpoint]]:
    knotd = require_tool("knotd")
    work = tmp_path_factory.mktemp("readme")
    zones = readme_zones()
    group = ProcessGroup(log_dir=work / "logs")
    try:
        yield start_knot(group, knotd, work / "knot", zones), start_dnslab(group, zones)
    finally:
        group.stop_all()


def run_dig(dig: str, line: str, port: int) -> str:
    words = shlex.split(line)
    words[0] = dig
    words[words.index("-p") + 1] = str(port)
    result = subprocess.run(words, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, f"{line}: dig exited {result.returncode}\n{result.stderr}"
    return result.stdout


def normalized(output: str, chaos: bool) -> list[str]:
    lines = [re.sub(r"id: \d+", "id: N", line) for line in output.splitlines()]
    lines = [line for line in lines if not NOISE.match(line)]
    if chaos:  # the text of id.server / version.bind names the server
        lines = [re.sub(r'"[^"]*"', '"<server>"', line) for line in lines]
    return sorted(lines)


def test_readme_has_dig_examples() -> None:
    assert dig_lines(), "README authoritative section has no dig @127.0.0.1 -p example"


@pytest.mark.parametrize("line", dig_lines() or ["(none)"])
def test_readme_dig_prints_what_knot_prints(servers: tuple[Endpoint, Endpoint], line: str) -> None:
    dig = require_tool("dig")
    knot, ours = servers
    chaos = " CH " in f" {line} "
    expected = normalized(run_dig(dig, line, knot.port), chaos)
    got = normalized(run_dig(dig, line, ours.port), chaos)
    assert got, f"{line}: dnslab printed nothing"
    assert got == expected, (
        f"{line}\n--- knot\n" + "\n".join(expected) + "\n--- dnslab\n" + "\n".join(got)
    )
