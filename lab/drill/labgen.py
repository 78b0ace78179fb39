"""The lab.toml a drill run uses: the user's config with drill settings patched in.

Pure: a TOML dict (as ``tomllib`` reads ``lab.toml``) goes in, a patched dict or TOML text
comes out. A run needs (1) the service TTL of that run with a fixed TTL policy, (2) the
scenario's check settings, (3) when it starts its own lab, free ports on the same addresses
so it never collides with a running ``dnslab up`` or a parallel test, and (4) absolute paths,
because the generated file lives in the output directory.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from lab.drill.scenario import CheckSpec

SERVICE = "www.lab.example."
_BARE = re.compile(r"^[A-Za-z0-9_-]+$")

PortFor = Callable[[str], int]  # host -> a free port on it


def _host(hostport: str) -> str:
    return hostport.rpartition(":")[0]


def _name(n: str) -> str:
    n = n.lower().strip()
    return n if n.endswith(".") else n + "."


def service_key(data: Mapping[str, Any], name: str = SERVICE) -> str | None:
    for key, svc in data.get("services", {}).items():
        if _name(str(svc.get("name", ""))) == _name(name):
            return str(key)
    return None


def patch_config(
    data: Mapping[str, Any],
    base_dir: Path,
    ttl: int | None = None,
    checks: CheckSpec | None = None,
    port_for: PortFor | None = None,
    service: str = SERVICE,
    resolver: Mapping[str, Any] | None = None,
    ttl_policy: str = "fixed",
) -> dict[str, Any]:
    """The drill's config dict. ``port_for`` given: every listener moves to a fresh port.

    ``ttl`` with ``ttl_policy = "fixed"`` serves exactly that TTL; with ``"dynamic"`` it is the
    ceiling (``ttl_max``) of the dynamic TTL and ``ttl_min`` stays the config's (at most ``ttl``).
    """
    out: dict[str, Any] = copy.deepcopy(dict(data))
    auth = out.setdefault("authoritative", {})
    auth["zones"] = {
        origin: str((base_dir / path).resolve()) for origin, path in auth.get("zones", {}).items()
    }
    mmdb = out.get("geoip", {}).get("mmdb")
    if mmdb:
        out["geoip"]["mmdb"] = str((base_dir / mmdb).resolve())
    if ttl is not None:
        key = service_key(out, service)
        if key is not None:
            svc = out["services"][key]
            svc.update(ttl=ttl, ttl_policy=ttl_policy, ttl_max=ttl)
            svc["ttl_min"] = min(int(svc.get("ttl_min", 5)), ttl)
    if checks is not None:
        out["checks"] = {
            **out.get("checks", {}),
            "interval": checks.interval,
            "fall": checks.fall,
            "rise": checks.rise,
            "timeout": checks.timeout,
        }
    if resolver:
        out["resolver"] = merge_knobs(out.get("resolver", {}), resolver)
    if port_for is not None:
        _move_ports(out, port_for)
    return out


def merge_knobs(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``over``; ``cache-min-ttl`` and ``cache_min_ttl`` are one knob."""

    def norm(k: str) -> str:
        return k.replace("-", "_")

    replaced = {norm(k) for k in over}
    return {**{k: v for k, v in base.items() if norm(k) not in replaced}, **over}


def _move_ports(out: dict[str, Any], port_for: PortFor) -> None:
    def move(hostport: str) -> str:
        host = _host(hostport)
        return f"{host}:{port_for(host)}"

    auth = out["authoritative"]
    auth["listen"] = move(auth.get("listen", "127.0.0.1:5300"))
    auth["admin_listen"] = move(auth.get("admin_listen", "127.0.0.1:8053"))
    checkers = out.get("checkers") or [{"name": "local", "listen": "127.0.0.1:8054"}]
    out["checkers"] = [{**c, "listen": move(c.get("listen", "127.0.0.1:8054"))} for c in checkers]
    res = out.setdefault("resolver", {})
    res["listen"] = move(res.get("listen", "127.0.0.1:5301"))
    res["metrics_listen"] = move(res.get("metrics_listen", "127.0.0.1:9301"))
    res["upstream"] = auth["listen"]
    path = out.get("checks", {}).get("path", "/healthz")
    for region in out.get("regions", {}).values():
        if region.get("listen"):
            region["listen"] = move(region["listen"])
            region["check"] = f"http://{region['listen']}{path}"


# -- a small TOML writer (the stdlib only reads TOML) -------------------------------------


def _key(k: str) -> str:
    return k if _BARE.match(k) else _string(k)


def _string(s: str) -> str:
    esc = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{esc}"'


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def to_toml(data: Mapping[str, Any], prefix: str = "") -> str:
    """TOML text for a dict of tables, arrays of tables and scalars (None values are dropped)."""
    lines: list[str] = []
    tables: list[tuple[str, Any]] = []
    for k, v in data.items():
        if v is None:
            continue
        if isinstance(v, dict) or _is_table_array(v):
            tables.append((k, v))
        else:
            lines.append(f"{_key(k)} = {_value(v)}")
    for k, v in tables:
        name = f"{prefix}.{_key(k)}" if prefix else _key(k)
        if isinstance(v, dict):
            lines += ["", f"[{name}]", to_toml(v, name)]
        else:
            for item in v:
                lines += ["", f"[[{name}]]", to_toml(item, name)]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n") + "\n"
