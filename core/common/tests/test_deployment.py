"""docker-compose.yml cannot run here (no Docker engine), so it is checked by reading it."""

import re
from pathlib import Path

import yaml
from django.conf import settings
from django.test import SimpleTestCase

ROOT = Path(settings.BASE_DIR)
PROXY_DIRECTIVES = (
    "proxy_http_version 1.1;",
    'proxy_set_header Connection "";',
    "proxy_set_header X-Request-ID $request_id;",
    "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
    "proxy_next_upstream error timeout http_502;",
    "client_max_body_size 210m;",
)


class ComposeTopologyTests(SimpleTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
        cls.services = cls.compose["services"]
        cls.nginx_conf = (ROOT / "nginx.conf").read_text()

    def test_it_has_every_service_of_the_production_topology(self) -> None:
        expected = {"nginx", "web", "worker", "beat", "postgres", "redis", "cassandra", "seaweedfs"}
        self.assertLessEqual(expected, set(self.services))

    def test_web_runs_at_least_two_replicas(self) -> None:
        self.assertGreaterEqual(self.services["web"]["deploy"]["replicas"], 2)

    def test_every_server_has_a_health_check_and_the_stores_keep_their_data_in_volumes(self) -> None:
        for name in ("nginx", "web", "worker", "postgres", "redis", "cassandra", "seaweedfs"):
            self.assertIn("healthcheck", self.services[name], name)
        declared = set(self.compose["volumes"])
        for name in ("postgres", "redis", "cassandra", "seaweedfs"):
            volumes = [v.split(":")[0] for v in self.services[name]["volumes"]]
            self.assertTrue(set(volumes) & declared, f"{name} has no named volume")

    def test_nginx_upstream_points_at_the_port_web_listens_on(self) -> None:
        upstream = re.search(r"upstream web \{(.*?)\}", self.nginx_conf, re.S)
        self.assertIsNotNone(upstream)
        servers = re.findall(r"server (\S+):(\d+)", upstream.group(1))
        self.assertEqual(servers, [("web", "8000")])
        self.assertIn("0.0.0.0:8000", " ".join(self.services["web"]["command"]))

    def test_nginx_publishes_the_port_it_listens_on_and_mounts_this_config(self) -> None:
        listen = re.search(r"listen (\d+);", self.nginx_conf).group(1)
        self.assertIn(f"8080:{listen}", self.services["nginx"]["ports"])
        self.assertIn("./nginx.conf:/etc/nginx/nginx.conf:ro", self.services["nginx"]["volumes"])

    def test_the_compose_and_local_nginx_configs_proxy_the_same_way(self) -> None:
        local = (ROOT / "scripts" / "nginx.local.conf.template").read_text()
        for directive in PROXY_DIRECTIVES:
            self.assertIn(directive, self.nginx_conf)
            self.assertIn(directive, local)

    def test_the_app_services_use_production_settings_and_the_cassandra_answer_store(self) -> None:
        for name in ("web", "worker", "beat"):
            environment = self.services[name]["environment"]
            self.assertEqual(environment["DJANGO_SETTINGS_MODULE"], "core.settings.production")
            self.assertEqual(environment["ANSWER_STORE"], "cassandra")
            self.assertIn("@postgres:5432/", environment["DATABASE_URL"])
            self.assertEqual(environment["CASSANDRA_HOSTS"].split(",")[0], "cassandra")

    def test_compose_ships_no_secret_and_scopes_the_apps_file_store_identity(self) -> None:
        """Production refuses the old defaults; compose must require the keys, never supply them."""
        app_env = self.services["web"]["environment"]
        for name in ("S3_ACCESS_KEY", "S3_SECRET_KEY"):
            self.assertRegex(app_env[name], r"^\$\{" + name + r":\?", name)
            self.assertRegex(self.services["seaweedfs"]["environment"][name], r"^\$\{" + name + r":\?", name)
        seaweed = " ".join(self.services["seaweedfs"]["command"])
        self.assertIn('"actions":["Read:%s","Write:%s","List:%s","Tagging:%s"]', seaweed)
        self.assertNotIn("Admin", seaweed)
        self.assertNotIn("exams-secret-key-for-local-only", (ROOT / "docker-compose.yml").read_text())

    def test_env_example_has_no_usable_secret(self) -> None:
        values = dict(
            line.split("=", 1)
            for line in (ROOT / ".env.example").read_text().splitlines()
            if "=" in line and not line.startswith("#")
        )
        for name in ("SECRET_KEY", "JWT_SIGNING_KEY", "S3_ACCESS_KEY", "S3_SECRET_KEY", "ADMIN_PASSWORD"):
            self.assertEqual(values[name], "", name)
        self.assertIn("S3_ADMIN_ACCESS_KEY", values)


class NginxStaticHeadersTests(SimpleTestCase):
    """Both Nginx configs (compose and local) give /static/ the app's security headers and one request id.

    core/common/tests/test_nginx.py checks the local one through a real Nginx; compose's cannot run here.
    """

    def test_static_files_get_the_security_headers_in_both_configs(self) -> None:
        for name in ("nginx.conf", "scripts/nginx.local.conf.template"):
            conf = (ROOT / name).read_text()
            static = re.search(r"location /static/ \{(.*?)\}", conf, re.S)
            self.assertIsNotNone(static, name)
            for header in (
                "add_header X-Content-Type-Options nosniff always;",
                "add_header X-Frame-Options DENY always;",
                "add_header Referrer-Policy same-origin always;",
                "add_header X-Request-ID $request_id_if_missing always;",
            ):
                self.assertIn(header, static.group(1), name)
            self.assertNotIn("Content-Security-Policy", static.group(1), name)

    def test_nginx_adds_a_request_id_only_where_the_app_sent_none(self) -> None:
        for name in ("nginx.conf", "scripts/nginx.local.conf.template"):
            conf = (ROOT / name).read_text()
            self.assertNotIn("add_header X-Request-ID $request_id ", conf, name)
            self.assertRegex(conf, r'map \$upstream_http_x_request_id \$request_id_if_missing \{[^}]*"" \$request_id;')
