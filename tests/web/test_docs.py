"""The live page's docs are tested: the README's and docs/web.md's commands parse, and the
stream routes docs/web.md lists are the server's."""

from __future__ import annotations

import re
import shlex

import pytest

from lab.cli import build_parser
from lab.web import server
from tests.conftest import REPO


def commands(text: str) -> list[list[str]]:
    out = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.splitlines():
            for part in line.split("#")[0].split("&&"):
                argv = shlex.split(part)
                if argv and argv[0] == ".venv/bin/dnslab":
                    out.append(argv[1:])
    return out


README = (
    (REPO / "README.md")
    .read_text()
    .split("<!-- section:web -->")[1]
    .split("<!-- /section:web -->")[0]
)
WEB_MD = (REPO / "docs/web.md").read_text()


@pytest.mark.parametrize("argv", commands(README) + commands(WEB_MD), ids=" ".join)
def test_documented_commands_parse(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert args.handler is not None


def test_documented_routes_are_served() -> None:
    for name in server.STATIC:
        if name != "index.html":
            assert name in WEB_MD
    for route in ("/events", "/meta.json", "/results.json", "Last-Event-ID", "snapshot", "end"):
        assert route in WEB_MD and route in (REPO / "lab/web/server.py").read_text()
    assert "live-page.png" in README and (REPO / "docs/img/live-page.png").exists()
