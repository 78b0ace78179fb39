"""The ``dnslab`` entry point: every provider module loads and registers; none is dropped quietly."""

from __future__ import annotations

import argparse
import importlib

import pytest

from lab import cli

# Subcommands each provider must contribute (a provider may add more; new ones need no edit here).
EXPECTED = {
    "authoritative.cli": {"authoritative", "check-zone"},
    "lab.geo_cli": {"geo-test", "explain"},
    "regions.cli": {"region"},
    "healthcheck.cli": {"healthcheck"},
    "resolver.cli": {"resolver"},
    "lab.run_cli": {"up", "drill"},
    "lab.sweep_cli": {"sweep"},
    "lab.check_cli": {"check-config", "secret"},
    "lab.web.cli": {"view"},
    "lab.containers_cli": {"containers"},
}


def _commands(parser: argparse.ArgumentParser) -> set[str]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(subs) == 1
    return set(subs[0].choices)


def test_every_provider_registers_its_subcommands() -> None:
    assert set(cli.PROVIDERS) == set(EXPECTED)
    for module_name in cli.PROVIDERS:
        parser = argparse.ArgumentParser()
        importlib.import_module(module_name).register(parser.add_subparsers())
        assert EXPECTED[module_name] <= _commands(parser), module_name
    assert set().union(*EXPECTED.values()) <= _commands(cli.build_parser())


def test_a_missing_provider_module_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation: the old loop `continue`d on ModuleNotFoundError, so `mv authoritative/cli.py /tmp`
    just made `dnslab authoritative` an "invalid choice"; now building the parser raises."""
    monkeypatch.setattr(cli, "PROVIDERS", (*cli.PROVIDERS, "authoritative.no_such_cli"))
    with pytest.raises(ModuleNotFoundError, match=r"authoritative\.no_such_cli"):
        cli.build_parser()
