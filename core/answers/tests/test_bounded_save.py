"""The timeouts that bound a save, chosen together (docs/decisions/0013-bounded-save-time.md): the app
answers within CASSANDRA_DEADLINE, and Nginx waits longer than that for a save, but not a minute."""

from __future__ import annotations

import re

from django.conf import settings
from django.test import SimpleTestCase

SAVE_LOCATION = re.compile(r"location ~ \^/api/exams/\[0-9\]\+/answers\$ \{(.*?)\n        \}", re.S)


def seconds(block: str, directive: str) -> float:
    return float(re.search(rf"{directive} (\d+(?:\.\d+)?)s;", block).group(1))


class SaveTimeoutsTests(SimpleTestCase):
    def save_locations(self) -> dict[str, str]:
        found = {}
        for name in ("nginx.conf", "scripts/nginx.local.conf.template"):
            match = SAVE_LOCATION.search((settings.BASE_DIR / name).read_text())
            self.assertIsNotNone(match, f"{name} has no location for saving answers")
            found[name] = match.group(1)
        return found

    def test_the_driver_gives_up_before_nginx_does_and_nginx_within_seconds(self) -> None:
        conf = settings.CASSANDRA
        self.assertLessEqual(conf["REQUEST_TIMEOUT"], conf["DEADLINE"])
        self.assertLess(conf["SPECULATIVE_DELAY"], conf["REQUEST_TIMEOUT"])
        for name, block in self.save_locations().items():
            read = seconds(block, "proxy_read_timeout")
            self.assertGreater(read, conf["DEADLINE"] + 1, name)
            self.assertLessEqual(read, 10, name)
            self.assertLessEqual(seconds(block, "proxy_next_upstream_timeout"), read, name)

    def test_a_save_that_timed_out_is_not_sent_again_to_another_instance(self) -> None:
        for name, block in self.save_locations().items():
            retry_on = re.search(r"proxy_next_upstream ([^;]+);", block).group(1).split()
            self.assertNotIn("timeout", retry_on, name)
            self.assertNotIn("http_503", retry_on, name)

    def test_both_configs_proxy_saves_the_same_way(self) -> None:
        blocks = list(self.save_locations().values())
        self.assertEqual(blocks[0], blocks[1])
