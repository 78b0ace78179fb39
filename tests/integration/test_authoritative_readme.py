"""The README's authoritative section runs: its ```sh block, against a real server on a free port."""

from __future__ import annotations

import re
import shlex
import subprocess

import pytest

from lab.procs import ProcessGroup, free_port, udp_dns_ready
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


def test_readme_block(procs: ProcessGroup) -> None:
    dig = require_tool("dig")
    port = free_port()
    lines = sh_lines()
    assert any(line.startswith("dig ") for line in lines)
    for line in lines:
        if line.startswith("kill "):
            continue
        words = argv(line, port)
        if line.endswith("&"):
            child = procs.start("authoritative", words, cwd=REPO)
            procs.wait_ready(child, udp_dns_ready("127.0.0.1", port))
            continue
        if words[0] == "dig":
            words[0] = dig
        result = subprocess.run(
            words, cwd=REPO, capture_output=True, text=True, timeout=30, check=False
        )
        assert result.returncode == 0, f"{line}\n{result.stdout}{result.stderr}"
        if "+short" in words:
            assert result.stdout.strip(), line
        elif words[0] == dig:
            assert "status: NOERROR" in result.stdout or "status: NXDOMAIN" in result.stdout, line
        else:
            assert result.stdout.startswith("OK example.com. 25 records"), result.stdout
