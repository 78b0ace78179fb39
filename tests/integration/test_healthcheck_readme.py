"""The README's regions-healthcheck command block, run as written (on free ports)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess

import pytest

from lab.procs import ProcessGroup, free_port, http_ready, tcp_ready
from tests.conftest import DNSLAB, REPO, require_tool

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def block() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("<!-- section:regions-healthcheck -->")[1].split("<!-- /section")[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)[0].strip().splitlines()


def test_readme_block_runs(procs: ProcessGroup) -> None:
    curl = require_tool("curl")
    region, control, checker = free_port(), free_port(), free_port()
    swaps = {
        "127.0.2.1:8080": f"127.0.0.1:{region}",
        "127.0.2.1:9080": f"127.0.0.1:{control}",
        "127.0.0.1:8054": f"127.0.0.1:{checker}",
    }
    outputs = []
    for line in block():
        for old, new in swaps.items():
            line = line.replace(old, new)
        assert "127.0.2.1" not in line and ":8054" not in line, line  # all on free ports
        argv = shlex.split(line, comments=True)
        if argv[-1] == "&":
            argv = [DNSLAB, *argv[1:-1]]
            child = procs.start(argv[1], argv)
            ready = (
                tcp_ready("127.0.0.1", checker)
                if argv[1] == "healthcheck"
                else http_ready(f"http://127.0.0.1:{region}/healthz")
            )
            procs.wait_ready(child, ready, timeout=30)
        else:  # through a shell, as a reader pastes it ($(dnslab secret --token ...))
            assert argv[0] == "curl", line
            out = subprocess.run(
                ["bash", "-c", f"{shlex.quote(curl)} {line.removeprefix('curl ')}"],
                capture_output=True,
                text=True,
                timeout=30,
                cwd=REPO,
            )
            outputs.append(out.stdout)
    down, events, status = outputs
    assert "down" in json.loads(down)["faults"]
    assert "event: snapshot" in events and '"region":"eu-west"' in events
    assert json.loads(status)["regions"][0]["region"] == "eu-west"
