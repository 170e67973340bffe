"""Settings for `manage.py test` (make test): the base settings with keys of their own.

SECRET_KEY and JWT_SIGNING_KEY are random for each run (set in the environment before base.py reads it),
so no token or signed value from a test can be replayed against a running stack, and the stack's own keys
never reach a test. Passwords use the fast MD5 hasher: tests create many users,
and PBKDF2 would cost most of their time. Everything else (the stores, the file store's keys) comes from
the environment as in base.py.
"""

import os
import secrets

os.environ["SECRET_KEY"] = secrets.token_urlsafe(50)
os.environ["JWT_SIGNING_KEY"] = secrets.token_urlsafe(40)

from core.settings.base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# A queue of the tests' own: a `make up` worker on the same Redis would otherwise take a test's task, and the
# stack's beat would send its periodic tasks to a test's embedded worker.
CELERY_TASK_DEFAULT_QUEUE = "exams-test"
