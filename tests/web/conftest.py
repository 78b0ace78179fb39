"""The browser of the page's tests: a fresh headless Chromium per test (lab/web/browser.py);
without chromium/chromedriver the test skips, and fails under DNSLAB_REQUIRE_SYSTEM_TOOLS=1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_tool


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    require_tool("chromium")
    require_tool("chromedriver")
    from lab.web.browser import chromium

    with chromium(tmp_path / "profile") as b:
        yield b
