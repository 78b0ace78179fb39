"""The one config: ``lab.toml`` (TOML read with ``tomllib``, validated by pydantic v2).

::

    LabConfig
    ├── authoritative   AuthoritativeSettings  listen, admin, zones, token, assume, quorum, admin_state,
    │                                          health_state, max_stale, on_expired
    │                                          + cache, TCP, transfer ACL, RRL (authoritative/settings.py)
    ├── control         ControlSettings        auth, secret_file (docs/security.md)
    ├── checkers        [CheckerSettings]      vantage points: name, listen, location
    ├── checks          CheckSettings          (healthcheck/settings.py)
    ├── resolver        ResolverSettings       (resolver/settings.py)
    ├── geoip           GeoIPSettings          optional MaxMind .mmdb
    ├── regions         {name: Region}         answer addresses (v4/v6) or a CNAME, check URL
    ├── locations       {name: Location}       CIDR list and/or GeoIP codes
    └── services        {key: Service}         a name in a zone, policy, TTL policy, all-down

Every key is checked (``extra="forbid"``) and every cross reference (region in an order,
location, service name inside a zone) is resolved after parsing; each problem becomes one line
``FILE: dotted.path[i]: what is wrong (what would be right)`` of a ``ConfigError``.
See docs/config.md for every field.
"""

from __future__ import annotations

import ipaddress
import json
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from authoritative.settings import ServerSettings
from healthcheck.settings import CheckSettings
from lab.config_refs import check_references
from lab.config_report import format_validation_error
from lab.errors import ConfigError
from resolver.settings import ResolverSettings

Policy = Literal["geo-failover", "failover", "weighted", "multivalue", "latency"]
AllDown = Literal["fail-open", "first", "servfail", "nodata"]
Quorum = int | Literal["majority", "all", "any", "route53"]

DEFAULT_CONFIG = "lab.toml"


def _ipv4(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError as exc:
        raise ValueError(f"not an IPv4 address: {exc}") from None


def _ipv6(value: str) -> str:
    try:
        return str(ipaddress.IPv6Address(value))
    except ValueError as exc:
        raise ValueError(f"not an IPv6 address: {exc}") from None


def _network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise ValueError(f"not a network (address/prefix): {exc}") from None


IPv4 = Annotated[str, AfterValidator(_ipv4)]
IPv6 = Annotated[str, AfterValidator(_ipv6)]
Network = Annotated[str, AfterValidator(_network)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _host_port(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT such as 127.0.0.1:5300, got {value!r}")
    return value


def normalize_name(name: str) -> str:
    """Lower-case, absolute (trailing dot) DNS name."""
    name = name.strip().lower()
    if not name or name == ".":
        return "."
    return name if name.endswith(".") else name + "."


class AuthoritativeSettings(ServerSettings):
    """``[authoritative]``; the cache, TCP, transfer and RRL keys come from ServerSettings."""

    listen: str = "127.0.0.1:5300"
    admin_listen: str = "127.0.0.1:8053"
    zones: dict[str, str] = Field(default_factory=dict)  # origin -> zone file
    token: str | None = None  # bearer token for admin writes (or env DNSLAB_ADMIN_TOKEN)
    assume: Literal["up", "down"] = "up"  # region state before the first health report
    quorum: Quorum = "majority"
    admin_state: str | None = None  # JSON file keeping forced states across restarts (gdnsd)
    health_state: str | None = None  # JSON file keeping the last health view across restarts
    max_stale: float = Field(default=60.0, gt=0)  # seconds a dead feed's last word counts as fresh
    on_expired: Literal["keep", "startup"] = "keep"  # after max_stale: keep it, or assume

    _hp = field_validator("listen", "admin_listen")(_host_port)

    @field_validator("zones")
    @classmethod
    def _zones(cls, value: dict[str, str]) -> dict[str, str]:
        return {normalize_name(origin): path for origin, path in value.items()}

    @field_validator("quorum")
    @classmethod
    def _quorum(cls, value: Quorum) -> Quorum:
        if isinstance(value, int) and value < 1:
            raise ValueError("quorum k must be >= 1 (or 'majority', 'all', 'any', 'route53')")
        return value


class ControlSettings(_Model):
    """How the control plane authenticates (health feed, region health, fault APIs)."""

    # auto: a configured secret, else the per-user default; required: a configured one; off: none
    auth: Literal["auto", "required", "off"] = "auto"
    secret_file: str | None = None  # the lab secret (or --secret-file / DNSLAB_SECRET_FILE)


class CheckerSettings(_Model):
    """A vantage point: a ``dnslab healthcheck`` process the server subscribes to."""

    name: str
    listen: str = "127.0.0.1:8054"
    location: str | None = None  # where its RTTs are measured from (latency policy)

    _hp = field_validator("listen")(_host_port)

    @property
    def events_url(self) -> str:
        return f"http://{self.listen}/v1/events"


class GeoIPSettings(_Model):
    mmdb: str | None = None  # path to a MaxMind .mmdb (GeoLite2-Country or -City)


class Region(_Model):
    """Where a region's clients are sent: addresses (v4/v6) or a CNAME target."""

    listen: str | None = None  # the regional backend (dnslab region --listen)
    v4: tuple[IPv4, ...] = ()
    v6: tuple[IPv6, ...] = ()
    cname: str | None = None
    check: str | None = None  # probe target; default http://LISTEN + checks.path

    @field_validator("cname")
    @classmethod
    def _cname(cls, value: str | None) -> str | None:
        return None if value is None else normalize_name(value)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        return None if value is None else _host_port(value)

    @model_validator(mode="after")
    def _answer(self) -> Region:
        if self.cname and (self.v4 or self.v6):
            raise ValueError("a region answers with addresses (v4/v6) or a cname, not both")
        if not (self.cname or self.v4 or self.v6):
            raise ValueError("a region needs v4 and/or v6 addresses, or a cname")
        return self


class Location(_Model):
    """A client location: CIDRs (longest prefix wins) and/or GeoIP codes like 'continent:EU'."""

    nets: tuple[Network, ...] = ()
    geoip: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # tuples: what this returns is validated strictly as Python data (parse_config)
        if isinstance(value, list):
            return {"nets": tuple(value)}
        if isinstance(value, dict):
            return {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}
        return value

    @field_validator("geoip")
    @classmethod
    def _geoip(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for code in value:
            kind, _, val = code.partition(":")
            if kind not in ("continent", "country") or not val:
                raise ValueError(f"{code!r}: expected 'continent:XX' or 'country:XX'")
        return tuple(c.split(":")[0] + ":" + c.split(":")[1].upper() for c in value)


class Service(_Model):
    """A dynamic name: answers come from a policy over regions and their health."""

    name: str
    policy: Policy = "geo-failover"
    order: dict[str, tuple[str, ...]] = Field(default_factory=dict)  # geo-failover
    regions: tuple[str, ...] = ()  # failover (primary first), multivalue, latency
    weights: dict[str, int] = Field(default_factory=dict)  # weighted
    max_answers: int = Field(8, ge=1)  # multivalue
    ttl: int = Field(30, ge=0, le=604800)
    ttl_policy: Literal["fixed", "dynamic"] = "fixed"
    ttl_min: int = Field(5, ge=0)
    ttl_max: int | None = Field(None, ge=0)  # default: ttl
    all_down: AllDown = "fail-open"

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return normalize_name(value)

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: dict[str, int]) -> dict[str, int]:
        for region, weight in value.items():
            if weight < 0:
                raise ValueError(f"weight of {region!r} must be >= 0, got {weight}")
        return value

    @property
    def ttl_ceiling(self) -> int:
        return self.ttl if self.ttl_max is None else self.ttl_max


class LabConfig(_Model):
    authoritative: AuthoritativeSettings = Field(default_factory=AuthoritativeSettings)
    control: ControlSettings = Field(default_factory=ControlSettings)
    checkers: tuple[CheckerSettings, ...] = (CheckerSettings(name="local", location=None),)
    checks: CheckSettings = Field(default_factory=lambda: CheckSettings.model_validate({}))
    resolver: ResolverSettings = Field(default_factory=lambda: ResolverSettings.model_validate({}))
    geoip: GeoIPSettings = Field(default_factory=GeoIPSettings)
    regions: dict[str, Region] = Field(default_factory=dict)
    locations: dict[str, Location] = Field(default_factory=dict)
    services: dict[str, Service] = Field(default_factory=dict)
    source: str = Field(default="<defaults>", exclude=True)  # the file it came from
    base_dir: str = Field(default=".", exclude=True)  # relative paths resolve from here

    def path(self, relative: str) -> Path:
        """A path from the config (zone file, mmdb) resolved against the config's directory."""
        p = Path(relative)
        return p if p.is_absolute() else Path(self.base_dir) / p

    def secret(self, flag: str | None = None, who: str = "dnslab") -> bytes | None:
        """The lab secret (``lab.auth.load_secret``): flag, env, control.secret_file, then the
        per-user default; None only with control.auth = "off"."""
        from lab.auth import load_secret

        return load_secret(flag, self._configured_secret(), self.control.auth, who)

    def secret_path(
        self, flag: str | None = None, who: str = "dnslab", create: bool = True
    ) -> tuple[Path, str] | None:
        """(path, where) of that secret (``lab.auth.secret_file``), not read."""
        from lab.auth import secret_file

        return secret_file(flag, self._configured_secret(), self.control.auth, who, create)

    def _configured_secret(self) -> str | None:
        configured = self.control.secret_file
        return str(self.path(configured)) if configured else None

    def check_url(self, region: str) -> str:
        r = self.regions[region]
        if r.check:
            return r.check
        scheme = "https" if self.checks.kind == "https" else "http"
        return f"{scheme}://{r.listen}{self.checks.path}"

    def service_by_name(self, name: str) -> tuple[str, Service] | None:
        name = normalize_name(name)
        for key, svc in self.services.items():
            if svc.name == name:
                return key, svc
        return None


def parse_config(text: str, source: str = DEFAULT_CONFIG, base_dir: str = ".") -> LabConfig:
    """Parse and validate lab.toml text; every problem is a line of the ``ConfigError``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    if not isinstance(data, dict):  # pragma: no cover - tomllib always returns a dict
        raise ConfigError(f"{source}: expected a TOML table")
    for key in ("source", "base_dir"):
        if key in data:
            raise ConfigError(f"{source}: {key}: unknown key (it is set by the loader)")
    try:
        # strict, as JSON: TOML has types, so `ttl = "30"` or `fall = true` is a mistake to
        # name, not a value to coerce (arrays still fill tuples)
        raw = json.dumps({**data, "source": source, "base_dir": base_dir}, default=str)
        cfg = LabConfig.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source, LabConfig)) from None
    problems = check_references(cfg)
    if problems:
        raise ConfigError("\n".join(f"{source}: {p}" for p in problems))
    return cfg


def load_config(path: str | Path) -> LabConfig:
    """Read and validate a lab.toml file."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config: {exc.strerror or exc}") from None
    return parse_config(text, source=str(p), base_dir=str(p.parent))


def default_config_path() -> Path | None:
    """``./lab.toml`` if it exists (the commands' default ``--config``)."""
    p = Path(DEFAULT_CONFIG)
    return p if p.exists() else None
