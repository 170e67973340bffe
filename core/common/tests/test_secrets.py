"""Safe by default: no process serves with a development key, production refuses weak secrets, the stack's
secrets are generated once and kept out of git, and the app's file-store identity is held to its bucket.

Each refusal is an import of the settings (or of an entry point) in a fresh interpreter with the bad value,
which must end in ImproperlyConfigured. The file-store checks run against the SeaweedFS that
scripts/services.sh started, with the identities it configured.
"""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from unittest import skipUnless

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from django.conf import settings
from django.test import SimpleTestCase

ROOT = Path(settings.BASE_DIR)
SECRETS_SH = ROOT / "scripts" / "secrets.sh"
# Every variable the settings read a secret from; a test sets the ones it means and nothing leaks in.
SECRET_VARIABLES = {
    "SECRET_KEY",
    "JWT_SIGNING_KEY",
    "S3_ACCESS_KEY",
    "S3_SECRET_KEY",
    "DEBUG",
    "FILE_STORAGE",
    "DJANGO_SETTINGS_MODULE",
}


def strong() -> dict[str, str]:
    return {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "JWT_SIGNING_KEY": secrets.token_urlsafe(30),
        "S3_ACCESS_KEY": secrets.token_hex(10).upper(),
        "S3_SECRET_KEY": secrets.token_urlsafe(30),
    }


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh interpreter from the repository, with only the given secrets in its environment."""
    environment = {k: v for k, v in os.environ.items() if k not in SECRET_VARIABLES}
    environment |= env
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


class SettingsRefusalTests(SimpleTestCase):
    def assert_refused(self, module: str, message: str, **env: str) -> None:
        result = run_python(f"import {module}", **env)
        self.assertNotEqual(result.returncode, 0, f"{module} imported with {sorted(env)}")
        self.assertIn("django.core.exceptions.ImproperlyConfigured", result.stderr)
        self.assertIn(message, result.stderr)

    def assert_accepted(self, module: str, **env: str) -> None:
        result = run_python(f"import {module}", **env)
        self.assertEqual(result.returncode, 0, result.stderr[-2000:])

    def test_base_settings_refuse_the_development_keys_when_debug_is_off(self) -> None:
        self.assert_refused("core.settings.base", "SECRET_KEY is unset or a development value")
        keys = strong()
        self.assert_refused(
            "core.settings.base", "JWT_SIGNING_KEY is unset or a development value", SECRET_KEY=keys["SECRET_KEY"]
        )
        self.assert_refused(
            "core.settings.base",
            "SECRET_KEY is unset or a development value",
            SECRET_KEY="dev-only-anything-at-all-" + keys["SECRET_KEY"],
            JWT_SIGNING_KEY=keys["JWT_SIGNING_KEY"],
        )

    def test_an_empty_key_counts_as_unset(self) -> None:
        self.assert_refused(
            "core.settings.base", "SECRET_KEY is unset", SECRET_KEY="", JWT_SIGNING_KEY=strong()["JWT_SIGNING_KEY"]
        )

    def test_base_settings_take_the_development_keys_in_debug_only(self) -> None:
        self.assert_accepted("core.settings.base", DEBUG="true")
        keys = strong()
        self.assert_accepted(
            "core.settings.base", SECRET_KEY=keys["SECRET_KEY"], JWT_SIGNING_KEY=keys["JWT_SIGNING_KEY"]
        )

    def test_no_entry_point_serves_with_a_development_key(self) -> None:
        """wsgi, asgi, celery and manage.py, with their own default settings module and no key in sight."""
        entry_points = {
            "wsgi": "import core.wsgi",
            "asgi": "import core.asgi",
            "celery": "from core.celery import app; app.loader.import_default_modules()",
            "manage": "import runpy, sys; sys.argv = ['manage.py', 'check']; "
            "runpy.run_path('manage.py', run_name='__main__')",
        }
        for name, code in entry_points.items():
            with self.subTest(entry_point=name):
                result = run_python(code)
                self.assertNotEqual(result.returncode, 0)
                self.assertIn("ImproperlyConfigured: SECRET_KEY is unset or a development value", result.stderr)

    def test_production_refuses_weak_or_equal_keys(self) -> None:
        keys = strong()
        cases = {
            "a dev-only SECRET_KEY even in DEBUG": (
                {"SECRET_KEY": "dev-only-" + "x7Yq2Lm9" * 8, "DEBUG": "true"},
                "SECRET_KEY must be set",
            ),
            "a short SECRET_KEY": ({"SECRET_KEY": keys["SECRET_KEY"][:49]}, "SECRET_KEY must be set"),
            "a repetitive SECRET_KEY": ({"SECRET_KEY": "ab" * 40}, "SECRET_KEY is too repetitive"),
            "a short JWT key": ({"JWT_SIGNING_KEY": keys["JWT_SIGNING_KEY"][:31]}, "JWT_SIGNING_KEY must be set"),
            "equal keys": ({"JWT_SIGNING_KEY": keys["SECRET_KEY"]}, "JWT_SIGNING_KEY must differ from SECRET_KEY"),
        }
        for case, (bad, message) in cases.items():
            with self.subTest(case):
                self.assert_refused("core.settings.production", message, **(keys | bad))

    def test_production_refuses_the_default_or_weak_file_store_keys(self) -> None:
        keys = strong()
        cases = {
            "no keys (the local defaults)": (
                {"S3_ACCESS_KEY": "", "S3_SECRET_KEY": ""},
                "S3_ACCESS_KEY must be set",
            ),
            "the default access key": ({"S3_ACCESS_KEY": "exams-access"}, "S3_ACCESS_KEY must be set"),
            "the default secret key": (
                {"S3_SECRET_KEY": "exams-secret-key-for-local-only"},
                "S3_SECRET_KEY must be set",
            ),
            "a short secret key": ({"S3_SECRET_KEY": keys["S3_SECRET_KEY"][:31]}, "S3_SECRET_KEY must be set"),
            "a repetitive secret key": ({"S3_SECRET_KEY": "s3cr" * 10}, "S3_SECRET_KEY is too repetitive"),
            "a secret equal to the access key": (
                {"S3_ACCESS_KEY": keys["S3_SECRET_KEY"]},
                "S3_SECRET_KEY must differ from S3_ACCESS_KEY",
            ),
            "a secret equal to the JWT key": (
                {"S3_SECRET_KEY": keys["JWT_SIGNING_KEY"]},
                "S3_SECRET_KEY must differ from SECRET_KEY and JWT_SIGNING_KEY",
            ),
        }
        for case, (bad, message) in cases.items():
            with self.subTest(case):
                self.assert_refused("core.settings.production", message, **(keys | bad))

    def test_production_takes_strong_keys_and_skips_file_store_keys_without_a_file_store(self) -> None:
        keys = strong()
        self.assert_accepted("core.settings.production", **keys)
        self.assert_accepted(
            "core.settings.production",
            FILE_STORAGE="local",
            SECRET_KEY=keys["SECRET_KEY"],
            JWT_SIGNING_KEY=keys["JWT_SIGNING_KEY"],
        )

    def test_the_test_settings_use_fresh_keys_and_the_fast_hasher(self) -> None:
        code = (
            "import core.settings.test as s; print(s.SECRET_KEY); print(s.SIMPLE_JWT['SIGNING_KEY']); "
            "print(s.PASSWORD_HASHERS[0])"
        )
        first, second = run_python(code), run_python(code)
        self.assertEqual(first.returncode, 0, first.stderr[-2000:])
        secret, jwt_key, hasher = first.stdout.split()
        self.assertGreaterEqual(len(secret), 50)
        self.assertNotEqual(secret, jwt_key)
        self.assertFalse(secret.startswith("dev-only-"))
        self.assertEqual(hasher, "django.contrib.auth.hashers.MD5PasswordHasher")
        self.assertNotEqual(second.stdout.split()[:2], [secret, jwt_key])
        self.assertNotEqual(settings.SECRET_KEY, secret)


class SecretsFileTests(SimpleTestCase):
    """scripts/secrets.sh: generated once, mode 0600, reused; the environment wins; the app gets only its own."""

    def secrets_sh(self, state: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        environment = {k: v for k, v in os.environ.items() if k not in SECRET_VARIABLES | {"ADMIN_PASSWORD"}}
        environment = {k: v for k, v in environment.items() if not k.startswith(("S3_ADMIN_", "SECRETS_FILE"))}
        environment |= {"STATE_DIR": state, **env}
        return subprocess.run(
            [str(SECRETS_SH), *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
        )

    def read(self, path: Path) -> dict[str, str]:
        lines = [line for line in path.read_text().splitlines() if "=" in line and not line.startswith("#")]
        return dict(line.split("=", 1) for line in lines)

    def test_it_generates_strong_secrets_once_and_prints_the_admin_password_once(self) -> None:
        with tempfile.TemporaryDirectory() as state:
            first = self.secrets_sh(state)
            self.assertEqual(first.returncode, 0, first.stderr)
            path = Path(state) / "secrets.env"
            self.assertEqual(stat.S_IMODE(path.stat().st_mode), 0o600)
            self.assertEqual((Path(state) / ".gitignore").read_text().strip(), "*")
            values = self.read(path)
            self.assertEqual(
                set(values),
                {"SECRET_KEY", "JWT_SIGNING_KEY", "S3_ACCESS_KEY", "S3_SECRET_KEY"}
                | {"S3_ADMIN_ACCESS_KEY", "S3_ADMIN_SECRET_KEY", "ADMIN_PASSWORD"},
            )
            self.assertEqual(len(set(values.values())), len(values), "every secret is different")
            self.assertIn(f"admin password {values['ADMIN_PASSWORD']}", first.stderr)
            self.assertNotIn(values["ADMIN_PASSWORD"], first.stdout)
            # the generated keys pass production's checks
            app_keys = {k: values[k] for k in ("SECRET_KEY", "JWT_SIGNING_KEY", "S3_ACCESS_KEY", "S3_SECRET_KEY")}
            self.assertEqual(run_python("import core.settings.production", **app_keys).returncode, 0)

            second = self.secrets_sh(state)
            self.assertEqual(self.read(path), values, "reused, not regenerated")
            self.assertNotIn(values["ADMIN_PASSWORD"], second.stderr + second.stdout)

    def test_a_given_admin_password_is_not_stored(self) -> None:
        with tempfile.TemporaryDirectory() as state:
            self.secrets_sh(state, ADMIN_PASSWORD="given-by-the-operator-1")
            self.assertNotIn("ADMIN_PASSWORD", self.read(Path(state) / "secrets.env"))

    def test_a_command_gets_the_apps_secrets_only_and_the_environment_wins(self) -> None:
        with tempfile.TemporaryDirectory() as state:
            names = "SECRET_KEY JWT_SIGNING_KEY S3_ACCESS_KEY S3_SECRET_KEY S3_ADMIN_ACCESS_KEY S3_ADMIN_SECRET_KEY"
            code = (
                "import os; print(' '.join(f'{k}={os.environ[k]}' for k in "
                f"'{names} ADMIN_PASSWORD'.split() if k in os.environ))"
            )
            result = self.secrets_sh(state, sys.executable, "-c", code, SECRET_KEY="from-the-environment")
            self.assertEqual(result.returncode, 0, result.stderr)
            seen = dict(item.split("=", 1) for item in result.stdout.split())
            values = self.read(Path(state) / "secrets.env")
            self.assertEqual(set(seen), {"SECRET_KEY", "JWT_SIGNING_KEY", "S3_ACCESS_KEY", "S3_SECRET_KEY"})
            self.assertEqual(seen["SECRET_KEY"], "from-the-environment")
            self.assertEqual(seen["JWT_SIGNING_KEY"], values["JWT_SIGNING_KEY"])
            got = self.secrets_sh(state, "--get", "S3_ADMIN_SECRET_KEY")
            self.assertEqual(got.stdout.strip(), values["S3_ADMIN_SECRET_KEY"])

    def test_the_secrets_file_is_ignored_by_git(self) -> None:
        result = subprocess.run(
            ["git", "check-ignore", "-q", ".state/secrets.env"], cwd=ROOT, capture_output=True, timeout=30
        )
        self.assertEqual(result.returncode, 0, ".state/secrets.env is not ignored")


def admin_keys() -> tuple[str, str]:
    """The file-store admin's keys: from the environment, or from the secrets file services.sh used."""
    keys = []
    for name in ("S3_ADMIN_ACCESS_KEY", "S3_ADMIN_SECRET_KEY"):
        value = (
            os.environ.get(name)
            or subprocess.run(
                [str(SECRETS_SH), "--get", name], cwd=ROOT, capture_output=True, text=True, timeout=30
            ).stdout.strip()
        )
        keys.append(value)
    return keys[0], keys[1]


def s3_client(access_key: str, secret_key: str) -> object:
    return boto3.client(
        "s3",
        endpoint_url=settings.S3["ENDPOINT_URL"],
        region_name=settings.S3["REGION"],
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


@skipUnless(settings.FILE_STORAGE == "s3", "the file store is not S3")
class FileStoreIdentityTests(SimpleTestCase):
    """The app's identity (settings.S3) against the real SeaweedFS: its bucket only."""

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.app = s3_client(settings.S3["ACCESS_KEY"], settings.S3["SECRET_KEY"])
        cls.bucket = settings.S3["BUCKET"]

    def assert_denied(self, call: object, **kwargs: str) -> None:
        with self.assertRaises(ClientError) as caught:
            call(**kwargs)  # type: ignore[operator]
        self.assertEqual(caught.exception.response["Error"]["Code"], "AccessDenied")

    def test_the_app_uses_its_bucket(self) -> None:
        key = f"identity-test/{uuid.uuid4().hex}"
        self.app.put_object(Bucket=self.bucket, Key=key, Body=b"hello")
        try:
            self.assertEqual(self.app.get_object(Bucket=self.bucket, Key=key)["Body"].read(), b"hello")
        finally:
            self.app.delete_object(Bucket=self.bucket, Key=key)

    def test_the_app_cannot_create_or_delete_buckets(self) -> None:
        self.assert_denied(self.app.create_bucket, Bucket=f"made-by-app-{uuid.uuid4().hex[:12]}")
        self.assert_denied(self.app.delete_bucket, Bucket=self.bucket)

    def test_the_app_neither_sees_nor_touches_another_bucket(self) -> None:
        access, secret = admin_keys()
        if not (access and secret):
            self.skipTest("the file store's admin keys are unknown (a SeaweedFS not started by this checkout)")
        admin = s3_client(access, secret)
        other = f"other-{uuid.uuid4().hex[:12]}"
        admin.create_bucket(Bucket=other)
        try:
            admin.put_object(Bucket=other, Key="private", Body=b"not for the app")
            listed = [bucket["Name"] for bucket in self.app.list_buckets()["Buckets"]]
            self.assertNotIn(other, listed)
            self.assertLessEqual(set(listed), {self.bucket})
            self.assertIn(other, [bucket["Name"] for bucket in admin.list_buckets()["Buckets"]])
            self.assert_denied(self.app.get_object, Bucket=other, Key="private")
            self.assert_denied(self.app.list_objects_v2, Bucket=other)
            self.assert_denied(self.app.put_object, Bucket=other, Key="planted")
        finally:
            admin.delete_object(Bucket=other, Key="private")
            admin.delete_bucket(Bucket=other)
