"""Smoke tests of bench/dnsperf_vs_knot.py: argument parsing and dnsperf output parsing (no sockets)."""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.bench import load_script

DNSPERF_OUTPUT = """\
Statistics:

  Queries sent:         116703
  Queries completed:    116703 (100.00%)
  Queries lost:         0 (0.00%)

  Response codes:       NOERROR 93357 (80.00%), NXDOMAIN 23346 (20.00%)
  Average packet size:  request 36, response 72
  Run time (s):         3.011476
  Queries per second:   38753.754052

  Average Latency (s):  0.002183 (min 0.000021, max 0.017046)
  Latency StdDev (s):   0.002828
"""


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_script("dnsperf_vs_knot")


def test_defaults(bench: ModuleType) -> None:
    args = bench.parse_args([])
    assert (args.duration, args.clients, args.qps) == (10, 10, 0)
    assert bench.servers(args) == ("knot", "dnslab", "dnslib")
    assert bench.servers(args, "geo-ecs") == ("knot", "dnslab")  # dnslib has no GeoDNS
    assert args.scenarios == ("static", "nxdomain", "geo-ecs", "geo-source")
    argv = bench.dnsperf_argv("dnsperf", 5300, args, args.qps)
    assert argv[argv.index("-l") + 1] == "10" and "-Q" not in argv


def test_options_reach_dnsperf(bench: ModuleType) -> None:
    args = bench.parse_args(
        ["--duration", "3", "--clients", "4", "--qps", "2000", "--only", "knot"]
    )
    argv = bench.dnsperf_argv("dnsperf", 5300, args, args.qps)
    assert argv[argv.index("-c") + 1] == "4"
    assert argv[argv.index("-Q") + 1] == "2000"
    # mutation: a bench() that ignores --only (the old `args.only == "knot"` read the flag back)
    assert bench.servers(args) == ("knot",)
    assert bench.servers(bench.parse_args(["--only", "dnslab"])) == ("dnslab",)
    assert argv[argv.index("-m") + 1] == "udp"
    tcp = bench.parse_args(["--mode", "tcp"])
    assert "tcp" in bench.dnsperf_argv("dnsperf", 5300, tcp, 0)


@pytest.mark.parametrize(
    "bad", [["--duration", "0"], ["--qps", "-1"], ["--queries", "/nonexistent"]]
)
def test_bad_arguments_exit_2(bench: ModuleType, bad: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        bench.parse_args(bad)
    assert exc.value.code == 2


def test_parse_dnsperf_output(bench: ModuleType) -> None:
    result = bench.parse_dnsperf("knot", DNSPERF_OUTPUT, cpu=0.7)
    assert result.qps == pytest.approx(38753.754052)
    assert result.avg_latency_ms == pytest.approx(2.183)
    assert result.max_latency_ms == pytest.approx(17.046)
    assert (result.sent, result.lost) == (116703, 0)
    assert result.cpu_us_per_query == pytest.approx(1e6 * 0.7 / 116703)
    assert "NXDOMAIN" in result.rcodes
