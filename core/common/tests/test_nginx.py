"""Headers through a real Nginx, started by scripts/services.sh from the project's template on free ports.

The upstream is this test's live Django server (the real middleware), so what a client sees is what
`make up` serves: static files with the security headers Django gives everything else, and one
X-Request-ID on every response (the app's when it answered, Nginx's own when it did not).
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from unittest import skipUnless

from django.conf import settings
from django.test import LiveServerTestCase

ROOT = Path(settings.BASE_DIR)
SERVICES_SH = ROOT / "scripts" / "services.sh"
HAS_NGINX = os.geteuid() == 0 or any(os.access(p, os.X_OK) for p in ("/usr/sbin/nginx", shutil.which("nginx") or ""))
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(port: int, path: str, **headers: str) -> tuple[int, list[tuple[str, str]]]:
    """Status and every header line as sent (repeated headers stay repeated)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, response.getheaders()
    finally:
        connection.close()


def values(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in headers if key.lower() == name.lower()]


@skipUnless(HAS_NGINX, "needs nginx, or root to install it")
class NginxHeadersTests(LiveServerTestCase):
    host = "127.0.0.1"
    databases: set[str] = set()  # the pages fetched read no table; no flush after each test

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.tmp = Path(tempfile.mkdtemp(prefix="nginx-headers-"))
        cls.static = cls.tmp / "static"
        (cls.static / "css").mkdir(parents=True)
        (cls.static / "css" / "probe.css").write_text("body { color: black; }\n")
        cls.proxy_port = cls.start_nginx("up", web_port=cls.server_thread.port)
        cls.dead_port = cls.start_nginx("down", web_port=free_port())  # an upstream nobody listens on

    @classmethod
    def start_nginx(cls, name: str, *, web_port: int) -> int:
        port = free_port()
        env = {
            **os.environ,
            "STATE_DIR": str(cls.tmp / name),
            "SECRETS_FILE": str(cls.tmp / "secrets.env"),  # generated once for both
            "NGINX_PORT": str(port),
            "WEB_BASE_PORT": str(web_port),
            "WEB_INSTANCES": "1",
            "NGINX_STATIC_ROOT": str(cls.static),
            "RESERVE_PORTS": "0",
        }
        started = subprocess.run(
            [str(SERVICES_SH), "start", "nginx"], env=env, capture_output=True, text=True, timeout=600
        )
        cls.addClassCleanup(subprocess.run, [str(SERVICES_SH), "stop", "nginx"], env=env, capture_output=True)
        if started.returncode != 0:
            raise AssertionError(f"nginx did not start: {started.stderr[-2000:]}")
        return port

    @classmethod
    def tearDownClass(cls) -> None:
        cls.doClassCleanups()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def assert_security_headers_once(self, headers: list[tuple[str, str]]) -> None:
        for name, value in SECURITY_HEADERS.items():
            self.assertEqual(values(headers, name), [value], name)

    def test_a_static_file_carries_nosniff_frame_deny_a_referrer_policy_and_a_request_id(self) -> None:
        status, headers = fetch(self.proxy_port, "/static/css/probe.css")

        self.assertEqual(status, 200)
        self.assert_security_headers_once(headers)
        self.assertEqual(len(values(headers, "X-Request-ID")), 1)
        self.assertEqual(values(headers, "Content-Type"), ["text/css"])
        self.assertEqual(values(headers, "Content-Security-Policy"), [])  # not HTML: no page policy here

    def test_a_missing_static_file_carries_them_too(self) -> None:
        status, headers = fetch(self.proxy_port, "/static/css/absent.css")

        self.assertEqual(status, 404)
        self.assert_security_headers_once(headers)

    def test_an_app_response_carries_one_request_id_the_one_nginx_passed_to_the_app(self) -> None:
        status, headers = fetch(self.proxy_port, "/", **{"X-Request-ID": "forged-by-the-client"})

        self.assertEqual(status, 200)
        ids = values(headers, "X-Request-ID")
        self.assertEqual(len(ids), 1, headers)
        self.assertRegex(ids[0], r"^[0-9a-f]{32}$")  # Nginx's $request_id, echoed by the app
        self.assert_security_headers_once(headers)  # the app's own, not doubled by Nginx

    def test_a_response_nginx_makes_itself_carries_one_request_id(self) -> None:
        status, headers = fetch(self.dead_port, "/")

        self.assertEqual(status, 502)
        ids = values(headers, "X-Request-ID")
        self.assertEqual(len(ids), 1, headers)
        self.assertRegex(ids[0], r"^[0-9a-f]{32}$")
