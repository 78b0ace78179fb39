"""promtool on the shipped Prometheus files: check config, check rules, test rules."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import REPO, require_tool

OBS = REPO / "observability"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = require_tool("promtool")
    return subprocess.run([tool, *args], capture_output=True, text=True, check=False, cwd=OBS)


def test_check_rules() -> None:
    proc = promtool("check", "rules", "rules/dnslab.rules.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 8 rules found" in proc.stdout


def test_rule_unit_tests() -> None:
    proc = promtool("test", "rules", "rules/dnslab.rules.test.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_rule_unit_tests_can_fail(tmp_path: Path) -> None:
    """The same unit tests against rules with a weakened `for:` fail."""
    broken = (OBS / "rules" / "dnslab.rules.yml").read_text().replace("for: 30s", "for: 0s")
    (tmp_path / "dnslab.rules.yml").write_text(broken)
    (tmp_path / "t.yml").write_text((OBS / "rules" / "dnslab.rules.test.yml").read_text())
    tool = require_tool("promtool")
    proc = subprocess.run([tool, "test", "rules", "t.yml"], capture_output=True, text=True,
                          check=False, cwd=tmp_path)  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "DnslabClientsOnDeadRegion" in out, out


def test_check_generated_config(tmp_path: Path) -> None:
    """The config `dnslab up --prometheus` writes for the default lab.toml."""
    from lab import prometheus as prom
    from lab.config import load_config
    from lab.drill.metrics_server import DEFAULT_LISTEN
    from lab.pkgdata import default_lab_toml, rules_dir
    from lab.up import plan_lab

    cfg = load_config(default_lab_toml())
    comps = plan_lab(cfg, default_lab_toml(), control_port=lambda host: 18080)
    conf = prom.scrape_config(cfg, comps, DEFAULT_LISTEN, sorted(rules_dir().glob("*.rules.yml")))
    assert {j["job_name"] for j in conf["scrape_configs"]} == {
        "authoritative", "healthcheck", "resolver", "regions", "drill"}  # fmt: skip
    targets = [t for j in conf["scrape_configs"] for s in j["static_configs"] for t in s["targets"]]
    assert all(t.startswith("127.") for t in targets), targets
    path = tmp_path / "prometheus.yml"
    path.write_text(json.dumps(conf))
    proc = promtool("check", "config", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 1 rule files found" in proc.stdout


def test_container_config_loads_the_rules_and_scrapes_the_drill(tmp_path: Path) -> None:
    """The compose Prometheus (config written by `dnslab containers config`) has the same
    rules beside its config and a drill job at the drill container's exporter."""
    from lab.containers import CORE, DRILL, DRILL_METRICS_PORT, write_config

    _, prom = write_config(REPO / "lab.toml", tmp_path)
    conf = json.loads(prom.read_text())
    drill = next(j for j in conf["scrape_configs"] if j["job_name"] == "drill")
    assert drill["static_configs"][0]["targets"] == [f"{CORE.host(DRILL)}:{DRILL_METRICS_PORT}"]
    copied = tmp_path / "rules" / "dnslab.rules.yml"
    assert copied.read_text() == (OBS / "rules" / "dnslab.rules.yml").read_text()
    proc = promtool("check", "config", str(prom))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 8 rules found" in proc.stdout
