"""Files shipped inside the package: the default ``lab.toml``, its zones, the scenarios and
the Prometheus rules (``observability/rules``).

In the repository ``lab/data/`` holds links to ``lab.toml``, ``zones/`` and ``scenarios/``;
a wheel (the container image) carries copies. ``importlib.resources`` finds them either way,
so an installed ``dnslab`` runs a drill without a checkout.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def data_dir() -> Path:
    """The directory of the packaged data (a real directory: the package is never zipped)."""
    return Path(str(resources.files("lab") / "data"))


def default_lab_toml() -> Path:
    return data_dir() / "lab.toml"


def scenario_dir() -> Path:
    return data_dir() / "scenarios"


def rules_dir() -> Path:
    """Prometheus recording/alerting rules (``dnslab up --prometheus`` loads them)."""
    return data_dir() / "rules"
