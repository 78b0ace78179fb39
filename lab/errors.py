"""The one error tree of dnslab.

::

    LabError                 base; str(err) is a message a user can act on
    ├── ConfigError          lab.toml / flags: names the file and the field
    ├── ZoneError            zone files: names the file and the line
    ├── ProtocolError        a DNS message we cannot parse (the shell answers FORMERR or drops it)
    ├── UnknownRegionError   a region name that is not in the config
    ├── ProcessError         a child process that failed to start or become ready
    └── InjectionError       a drill's fault step that could not be carried out

Shells (servers, CLI) catch ``LabError`` and print ``str(err)``; anything else that escapes a
query handler is turned into SERVFAIL and counted, never allowed to kill the server.
"""

from __future__ import annotations


class LabError(Exception):
    """Base class of every error dnslab raises on purpose."""


class ConfigError(LabError):
    """Invalid configuration: the message names the file and field."""


class ZoneError(LabError):
    """A zone file that cannot be loaded: the message names file:line."""


class ProtocolError(LabError):
    """A malformed DNS message."""


class UnknownRegionError(ConfigError):
    """A region name that the configuration does not define."""


class ProcessError(LabError):
    """A child process that failed to start or to become ready."""


class InjectionError(LabError):
    """A drill fault step (kill, POST /v1/faults, restart) that did not take effect."""
