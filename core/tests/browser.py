"""Headless Chromium for tests and screenshots: Debian's chromium driven through its chromedriver
(scripts/browser.sh installs both), with the DevTools protocol for cutting the network, and axe-core for
accessibility scans. Shared by every suite that drives a page (the student site, the admin).

    from core.tests.browser import BrowserTestCase          # a StaticLiveServerTestCase with self.driver
    driver = start_chromium(width=390, language="ar")        # anywhere else; call driver.quit() after
    sign_in_to_admin(driver, live_server_url, doctor)        # an admin session in that browser
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import unittest
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.staticfiles.testing import StaticLiveServerTestCase

CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)
AXE_PATH = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
# Impacts that fail a scan; "moderate" and "minor" are reported by the scan but do not fail it.
AXE_FAILING_IMPACTS = frozenset({"serious", "critical"})
WAIT_SECONDS = 15


def chromium_paths() -> tuple[str, str] | None:
    """(chromium, chromedriver) when both are installed, else None."""
    browser = os.environ.get("CHROMIUM_BIN") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("CHROMEDRIVER_BIN") or shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def why_no_browser() -> str | None:
    """None when tests can drive Chromium; otherwise the reason, for a skip message."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (make venv installs it from requirements-dev.txt)"
    if chromium_paths() is None:
        return "Chromium or chromedriver is not installed and could not be (scripts/browser.sh install needs root)"
    return None


def start_chromium(*, width: int = 1280, height: int = 900, language: str = "en") -> Any:
    """A fresh headless Chromium with its own profile, a window of this size and this Accept-Language."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    paths = chromium_paths()
    if paths is None:
        raise unittest.SkipTest(why_no_browser() or "no Chromium")
    browser, chromedriver = paths
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    options.add_argument(f"--lang={language}")
    options.add_experimental_option("prefs", {"intl.accept_languages": language})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    driver.set_page_load_timeout(30)
    # Headless windows are a little smaller than asked; set the viewport exactly with the DevTools protocol.
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )
    driver.execute_cdp_cmd("Network.enable", {})
    driver.profile_dir = profile  # removed by stop_chromium
    return driver


def stop_chromium(driver: Any) -> None:
    try:
        driver.quit()
    finally:
        shutil.rmtree(getattr(driver, "profile_dir", ""), ignore_errors=True)


def sign_in_to_admin(driver: Any, base_url: str, user: Any) -> None:
    """Gives the browser a signed-in admin session of this user (Django's own session, as the login page would;
    spares the login throttle)."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    driver.get(f"{base_url}/admin/login/")
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    driver.add_cookie({"name": cookie.key, "value": cookie.value, "path": "/"})


def set_offline(driver: Any, offline: bool) -> None:
    """Cuts (or restores) the page's network, as a dropped Wi-Fi would: requests fail at once."""
    driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )


def axe_violations(driver: Any) -> list[dict[str, Any]]:
    """axe-core's violations on the current page (WCAG 2.0, 2.1 A and AA, and best practices)."""
    if not AXE_PATH.exists():
        raise unittest.SkipTest(f"axe-core is not installed at {AXE_PATH} (scripts/browser.sh install runs npm ci)")
    # Injected and run in one script, so a navigation cannot fall between the two.
    result = driver.execute_async_script(
        AXE_PATH.read_text(encoding="utf-8") + ";\nconst done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', "
        "'best-practice']}}).then(r => done(JSON.stringify(r.violations)), e => done(JSON.stringify([{id: 'axe-error', "
        "impact: 'critical', description: String(e), nodes: []}])));"
    )
    return list(json.loads(result))


def failing(violations: list[dict[str, Any]]) -> list[str]:
    """The serious and critical violations, one line each (rule, impact, first offending element)."""
    return [
        f"{v['id']} ({v['impact']}): {v.get('help') or v.get('description')} at "
        f"{v['nodes'][0]['target'] if v.get('nodes') else '?'}"
        for v in violations
        if v.get("impact") in AXE_FAILING_IMPACTS
    ]


def csp_violations(driver: Any) -> list[str]:
    """Console messages of the page that report a Content-Security-Policy refusal."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if "Content Security Policy" in entry.get("message", "")
        or "Content-Security-Policy" in entry.get("message", "")
    ]


class BrowserTestCase(StaticLiveServerTestCase):
    """A live server on the real stores, and a fresh Chromium per test class (self.driver)."""

    width = 1280
    language = "en"

    @classmethod
    def setUpClass(cls) -> None:
        reason = why_no_browser()
        if reason:
            raise unittest.SkipTest(reason)
        super().setUpClass()
        try:
            cls.driver = start_chromium(width=cls.width, language=cls.language)
        except Exception:
            super().tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls) -> None:
        stop_chromium(cls.driver)
        super().tearDownClass()

    def url(self, path: str) -> str:
        return f"{self.live_server_url}{path}"
