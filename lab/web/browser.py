"""Headless Chromium (Debian's ``chromium`` + ``chromium-driver``) driven by Selenium, for
the page's browser test and the README screenshot (``make screenshot``). Selenium is a dev
dependency: imported here only when a browser is started."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# without these Chromium reaches for the network (updates, sync, field trials, QUIC probes)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def find(name: str, default: str) -> str | None:
    return shutil.which(name) or (default if Path(default).exists() else None)


@contextlib.contextmanager
def chromium(
    profile: Path, width: int = 1280, height: int = 900, scale: float = 1.0
) -> Iterator[WebDriver]:
    """A fresh headless Chromium (profile in ``profile``) that keeps its console log; quit
    (browser and driver processes stopped) on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = find("chromium", CHROMIUM), find("chromedriver", CHROMEDRIVER)
    if binary is None or driver is None:
        raise FileNotFoundError(
            "chromium and chromedriver (apt-get install chromium chromium-driver)"
        )
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for flag in FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={profile}")
    opts.add_argument(f"--window-size={width},{height}")
    opts.add_argument(f"--force-device-scale-factor={scale}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(options=opts, service=Service(executable_path=driver))
    try:
        yield browser
    finally:
        browser.quit()


def console_errors(browser: WebDriver) -> list[str]:
    """Console messages at error level since the last call, and the page's own error list."""
    logs: list[dict[str, Any]] = getattr(browser, "get_log")("browser")  # noqa: B009 (untyped)
    errors = [str(e["message"]) for e in logs if e.get("level") == "SEVERE"]
    page = browser.execute_script("return (window.dnslab && window.dnslab.errors) || []")
    return errors + [str(e) for e in page]
