"""Headless Chromium for the console's end-to-end tests.

Uses Debian's ``chromium`` and ``chromium-driver`` packages, never a browser
downloaded at run time. Missing, the tests FAIL under ``CI`` (saying how to
install them) and are skipped elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CI, ROOT

CHROMIUM = os.environ.get("SAGA_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SAGA_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
HOW_TO_INSTALL = (
    "install Debian's packages with `apt-get update && apt-get install -y chromium "
    "chromium-driver` (and selenium with `pip install -e '.[test]'`)"
)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
)


def _missing(what: str) -> None:
    message = f"{what}: {HOW_TO_INSTALL}"
    if CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture
def browser() -> Iterator[Any]:
    try:
        from selenium import webdriver
    except ImportError:
        _missing("selenium is not installed")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            _missing(f"{path} is missing, so the browser tests cannot run")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(
        options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER)
    )
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def live_server(request: pytest.FixtureRequest) -> Iterator[Any]:
    """pytest-django's live server, started with a STATIC_URL.

    Django's live server thread cannot start its static files handler while
    STATIC_URL is unset, as it is in tests.settings.
    """
    from django.conf import settings
    from django.test.utils import override_settings
    from pytest_django.live_server_helper import LiveServer

    address = request.config.getvalue("liveserver") or "localhost"
    with override_settings(STATIC_URL=settings.STATIC_URL or "/static/"):
        server = LiveServer(address)
    yield server
    server.stop()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where screenshots go: docs/ with SAGA_UPDATE_SCREENSHOTS=1, else a temporary folder."""
    if os.environ.get("SAGA_UPDATE_SCREENSHOTS"):
        target = ROOT / "docs"
        target.mkdir(exist_ok=True)
        return target
    return tmp_path
