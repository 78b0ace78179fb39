"""`dnslab geo-test` / `dnslab explain` offline (in process)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lab.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def in_repo() -> object:
    old = os.getcwd()
    os.chdir(REPO)
    yield
    os.chdir(old)


def test_explain_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            ["explain", "www.lab.example", "--client", "127.3.0.1", "--json", "--down", "ap-south"]
        )
        == 0
    )
    e = json.loads(capsys.readouterr().out)
    assert e["location"] == "ap" and e["order"] == ["ap-south", "eu-west", "us-east"]
    assert e["answer"] == ["www.lab.example. 30 IN A 127.0.2.1"] and e["ecs_scope"] == 16


def test_explain_aaaa_is_nodata_and_up_what_if(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "explain",
                "www.lab.example.",
                "--client",
                "127.1.0.1",
                "--type",
                "AAAA",
                "--up",
                "us-east",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "answer     (NODATA)" in out and "what-if: --up us-east" in out
    assert "no records: the reply's SOA sets the negative TTL" in out


def test_explain_scope_0_when_no_location_has_the_family(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["explain", "www.lab.example", "--client", "2001:db8::1", "--json"]) == 0
    e = json.loads(capsys.readouterr().out)
    assert e["ecs_scope"] == 0 and e["ecs_scope_why"].startswith("no IPv6 location: every IPv6")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["explain", "www.lab.example.", "--client", "127.1.0.1", "--down", "mars"],
            "unknown region (known: us-east",
        ),
        (["explain", "static.lab.example.", "--client", "127.1.0.1"], "is not a GeoDNS service"),
        (["explain", "www.lab.example.", "--client", "x"], "expected an address"),
        (
            ["explain", "www.lab.example.", "--client", "127.1.0.1", "--type", "BOGUS"],
            "expected a DNS type",
        ),
        (
            [
                "explain",
                "www.lab.example.",
                "--client",
                "127.1.0.1",
                "--admin",
                "http://x",
                "--down",
                "eu-west",
            ],
            "what-ifs",
        ),
        (["geo-test", "127.0.0.1", "--config", "nope.toml"], "nope.toml: cannot read config"),
    ],
)
def test_errors_are_one_clear_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("response", "message"),
    [
        ((200, "<html>directory listing</html>"), "HTTP 200 without a JSON explanation"),
        ((404, '{"detail": "not a GeoDNS service"}'), "not a GeoDNS service"),
    ],
)
def test_explain_admin_answers_that_are_not_explanations(
    response: tuple[int, str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import httpx

    def fake_get(url: str, **kw: object) -> httpx.Response:
        return httpx.Response(response[0], text=response[1])

    monkeypatch.setattr(httpx, "get", fake_get)
    argv = ["explain", "www.lab.example.", "--client", "127.1.0.1", "--admin", "http://x"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
