"""The README's authoritative section runs: its ```sh block, against a real server on a free port."""

from __future__ import annotations

import re
import shlex
import subprocess

import pytest

from lab.procs import ProcessGroup, free_port, on_fresh_ports, udp_dns_ready
from tests.conftest import DNSLAB, REPO, require_tool

pytestmark = pytest.mark.integration


def sh_lines() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text[
        text.index("<!-- section:authoritative -->") : text.index("<!-- /section:authoritative -->")
    ]
    (block,) = re.findall(r"```sh\n(.*?)```", section, re.S)
    return [line for line in block.splitlines() if line.strip()]


def argv(line: str, port: int) -> list[str]:
    words = shlex.split(line.replace("5300", str(port)).rstrip("&").strip())
    return [DNSLAB if w == ".venv/bin/dnslab" else w for w in words]


def start_server(procs: ProcessGroup, line: str) -> int:
    """Start the README's server line on a free port (again on another one if it was taken)."""

    def attempt(n: int) -> int:
        port = free_port()
        child = procs.start(f"authoritative-{n}", argv(line, port), cwd=REPO)
        procs.wait_ready(child, udp_dns_ready("127.0.0.1", port))
        return port

    return on_fresh_ports(attempt)


# The README's dig lines answer NOERROR (data, a CNAME chain, a wildcard, a referral to
# sub.example.com) except these. The old check accepted NOERROR or NXDOMAIN for every line;
# mutation: `Answer(NXDOMAIN, ...)` for referrals in authoritative/lookup.referral passed it.
STATUS = {"nothere.example.com": "NXDOMAIN"}


def test_readme_block(procs: ProcessGroup) -> None:
    dig = require_tool("dig")
    lines = sh_lines()
    assert any(line.startswith("dig ") for line in lines)
    (server,) = [line for line in lines if line.endswith("&")]
    port = start_server(procs, server)
    for line in lines:
        if line.startswith("kill ") or line == server:
            continue
        words = argv(line, port)
        if words[0] == "dig":
            words[0] = dig
        result = subprocess.run(
            words, cwd=REPO, capture_output=True, text=True, timeout=30, check=False
        )
        assert result.returncode == 0, f"{line}\n{result.stdout}{result.stderr}"
        if "+short" in words:
            assert result.stdout.strip(), line
        elif words[0] == dig:
            status = next((v for k, v in STATUS.items() if k in line), "NOERROR")
            assert f"status: {status}" in result.stdout, f"{line}\n{result.stdout}"
        else:
            assert result.stdout.startswith("OK example.com. 25 records"), result.stdout
