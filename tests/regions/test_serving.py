from __future__ import annotations

import pytest

from lab.errors import ConfigError
from regions.serving import parse_hostport, server_tls


def test_parse_hostport() -> None:
    assert parse_hostport("127.0.2.1:8080", "--listen") == ("127.0.2.1", 8080)
    for bad in ("8080", ":8080", "host:", "h:99999", "h:x"):
        with pytest.raises(ConfigError, match="--listen: expected HOST:PORT"):
            parse_hostport(bad, "--listen")


def test_tls_files_that_do_not_load_name_the_flags() -> None:
    with pytest.raises(
        ConfigError, match=r"--tls-cert /nope\.pem / --tls-key /nope\.key: cannot load"
    ):
        server_tls("/nope.pem", "/nope.key")
