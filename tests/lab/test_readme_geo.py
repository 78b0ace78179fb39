"""The README's GeoDNS section is real: its offline commands print exactly what it shows."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

from lab.cli import main

REPO = Path(__file__).resolve().parents[2]


def blocks() -> list[tuple[str, str]]:
    """(command, expected output) for every offline dnslab command in the geo section."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("<!-- section:geo -->") : text.index("<!-- /section:geo -->")]
    out: list[tuple[str, str]] = []
    for block in re.findall(r"```console\n(.*?)```", section, re.S):
        current: list[str] | None = None
        for line in block.splitlines():
            if line.startswith("$ "):
                current = None
                cmd = line[2:]
                if cmd.startswith("dnslab ") and "--admin" not in cmd:
                    current = []
                    out.append((cmd, ""))
            elif current is not None:
                out[-1] = (out[-1][0], out[-1][1] + line + "\n")
    return out


def test_the_section_has_offline_examples() -> None:
    assert len(blocks()) >= 3


@pytest.mark.parametrize(("cmd", "expected"), blocks())
def test_readme_command(
    cmd: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = shlex.split(cmd)[1:]
    cwd = REPO
    if "broken.toml" in cmd:
        good = (REPO / "lab.toml").read_text()
        bad = good.replace(
            'eu = ["eu-west", "us-east", "ap-south"]', 'eu = ["eu-west", "eu-wst", "ap-south"]'
        )
        (tmp_path / "broken.toml").write_text(bad.replace("zones/", str(REPO / "zones") + "/"))
        cwd = tmp_path
    old = os.getcwd()
    os.chdir(cwd)
    try:
        code = main(argv)
    finally:
        os.chdir(old)
    captured = capsys.readouterr()
    if code == 0:
        assert captured.out == expected
    else:
        assert captured.err == expected
