"""Every write about people, levels, subjects and API keys."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Collection, Iterable
from typing import NamedTuple

from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX, UNUSABLE_PASSWORD_SUFFIX_LENGTH
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from redis.exceptions import RedisError

from core.accounts.models import ApiKey, Level, Role, Subject, User
from core.accounts.revocation import entry_ttl_seconds, void_before_name
from core.accounts.selectors import api_key_hash
from core.accounts.validators import STUDENT_NUMBER_MESSAGE, STUDENT_NUMBER_RE
from core.common.db import server_bound_cursor
from core.common.errors import Conflict, Invalid, NotFound

API_KEY_PREFIX = "ek_"
logger = logging.getLogger(__name__)


def level_get_or_create(*, name: str) -> Level:
    level, _ = Level.objects.get_or_create(name=name.strip())
    return level


def levels_ensure(*, names: Collection[str]) -> dict[str, int]:
    """Level name -> id for every name, creating the unknown ones (set-based: one bulk insert for them all)."""
    existing = dict(Level.objects.filter(name__in=names).values_list("name", "id"))
    missing = set(names) - set(existing)
    if missing:
        Level.objects.bulk_create([Level(name=name) for name in missing], ignore_conflicts=True)
        existing = dict(Level.objects.filter(name__in=names).values_list("name", "id"))
    return existing


def subject_get_or_create(*, name: str) -> Subject:
    subject, _ = Subject.objects.get_or_create(name=name.strip())
    return subject


class SubjectNotYours(NotFound):
    code = "not_found"


def may_write_any_subject(user: User) -> bool:
    return bool(user.is_superuser or user.role == Role.ADMIN)


def subjects_for_writer(*, user: User, names: Collection[str]) -> dict[str, Subject]:
    """The subjects, by (stripped) name, that `user` may write into (course grades, exams) out of `names`.

    The one rule of who writes into a subject, for every road in (the API, background imports, the admin):
    - an admin: every name; an unknown one is created, and nobody is made its teacher;
    - a doctor: the subjects they teach, and every unknown name, which is created and taught by them from now on;
    - an existing subject that the doctor does not teach is left out, whether another doctor or nobody teaches it
      (the subject that Markr imports use is shared and taught by nobody): only an admin assigns existing subjects.
    Anyone else may write into none. Call inside the writer's transaction."""
    wanted = sorted({name.strip() for name in names if name.strip()})  # sorted: concurrent writers lock in one order
    if not wanted or not (may_write_any_subject(user) or user.role == Role.DOCTOR):
        return {}
    existing = set(Subject.objects.filter(name__in=wanted).values_list("name", flat=True))
    missing = [name for name in wanted if name not in existing]
    if missing:
        Subject.objects.bulk_create([Subject(name=name) for name in missing], ignore_conflicts=True)
    subjects = {subject.name: subject for subject in Subject.objects.filter(name__in=wanted)}
    if may_write_any_subject(user):
        return subjects
    if missing:  # the doctor teaches what they named first; one that a concurrent writer adopted stays theirs
        teaches = Subject.doctors.through
        orphans = Subject.objects.filter(name__in=missing, doctors__isnull=True).values_list("id", flat=True)
        teaches.objects.bulk_create(
            [teaches(subject_id=subject_id, user_id=user.pk) for subject_id in orphans], ignore_conflicts=True
        )
    taught = set(Subject.objects.filter(name__in=wanted, doctors=user).values_list("name", flat=True))
    return {name: subject for name, subject in subjects.items() if name in taught}


def subject_for_writer(*, user: User, name: str) -> Subject:
    """The subject named `name` when `user` may write into it (subjects_for_writer); raises SubjectNotYours (404),
    whose detail says who can help, otherwise."""
    subject = subjects_for_writer(user=user, names=[name]).get(name.strip())
    if subject is None:
        raise SubjectNotYours(subject_refusal(name=name))
    return subject


def subject_refusal(*, name: str) -> str:
    """Why a writer may not write into the subject `name`, in words they can act on."""
    return f"No subject named {name.strip()!r} among yours; an admin assigns an existing subject to its doctors."


# --- students -----------------------------------------------------------------------------------------------


class StudentFields(NamedTuple):
    """One student for students_ensure. An empty email and a None level leave a known student's as they are."""

    student_number: str
    full_name: str = ""
    email: str = ""
    level_id: int | None = None


def unusable_password() -> str:
    """What Django's make_password(None) stores (its prefix, then UNUSABLE_PASSWORD_SUFFIX_LENGTH random
    characters), drawn from the OS's generator in one call: make_password(None) picks each character with
    secrets.choice, ~200 us a password, 4 s for a batch of 20,000 new students
    (docs/decisions/0016-students-ensure.md)."""
    return UNUSABLE_PASSWORD_PREFIX + secrets.token_hex(UNUSABLE_PASSWORD_SUFFIX_LENGTH // 2)


def students_ensure(*, rows: Iterable[StudentFields], update: bool = False) -> dict[str, int]:
    """Student number -> user id for every row: the one way students come into being, for every road in (the
    API's grades and Markr, background imports, the admin's import-export). Set-based: one SELECT for the batch,
    then one INSERT for the numbers it did not find (role student, an unusable password, the row's name, email
    and level); a student that a concurrent writer created first is looked up again. A later row for the same
    number wins. Every number is checked with the one student-number rule (Invalid otherwise).

    `update=True` (the students import) is one upsert instead: a known student gets the row's name, and its
    email and level where the row has them; a number that belongs to a user who is not a student is left alone
    and left out of the answer. Call inside the writer's transaction."""
    latest = {row.student_number: row for row in rows}
    for number in latest:
        if not STUDENT_NUMBER_RE.fullmatch(number):
            raise Invalid(f"{number!r}: {STUDENT_NUMBER_MESSAGE}")
    if not latest:
        return {}
    if update:
        return _students_insert(list(latest.values()), update=True)
    ids = _student_ids(list(latest))
    missing = [row for number, row in latest.items() if number not in ids]
    if missing:
        ids.update(_students_insert(missing, update=False))
        late = [row.student_number for row in missing if row.student_number not in ids]
        if late:  # created by a concurrent writer after our SELECT: ON CONFLICT DO NOTHING returned nothing
            ids.update(_student_ids(late))
    return ids


def student_ensure(*, student_number: str, full_name: str = "") -> User:
    """The user with this student number, created as a student (students_ensure) when unknown: one query for a
    known number, as the get_or_create it replaces."""
    user = User.objects.filter(student_number=student_number).first()
    if user is None:
        ids = students_ensure(rows=[StudentFields(student_number, full_name)])
        user = User.objects.get(pk=ids[student_number])
    return user


def _student_ids(numbers: list[str]) -> dict[str, int]:
    with server_bound_cursor() as cursor:
        cursor.execute(  # the table name comes from model _meta; values are parameters
            f"SELECT student_number, id FROM {User._meta.db_table} WHERE student_number = ANY(%b::text[])",  # noqa: S608
            [numbers],
        )
        return dict(cursor.fetchall())


def _students_insert(rows: list[StudentFields], *, update: bool) -> dict[str, int]:
    conflict = (
        """DO UPDATE SET
            full_name = EXCLUDED.full_name,
            email = COALESCE(EXCLUDED.email, u.email),
            level_id = COALESCE(EXCLUDED.level_id, u.level_id)
        WHERE u.role = %(role)s"""
        if update
        else "DO NOTHING"
    )
    with server_bound_cursor() as cursor:
        cursor.execute(  # the table name comes from model _meta; values are parameters
            f"""
            INSERT INTO {User._meta.db_table} AS u (password, is_superuser, role, full_name, student_number, email,
                                                    level_id, is_active, is_staff, date_joined)
            SELECT r.password, false, %(role)s, r.full_name, r.student_number, NULLIF(lower(r.email), ''),
                   r.level_id, true, false, %(now)s
            FROM unnest(%(numbers)s::text[], %(names)s::text[], %(emails)s::text[], %(levels)s::bigint[],
                        %(passwords)s::text[]) AS r(student_number, full_name, email, level_id, password)
            ON CONFLICT (student_number) {conflict}
            RETURNING u.student_number, u.id
            """,  # noqa: S608
            {
                "role": Role.STUDENT.value,
                "now": timezone.now(),
                "numbers": [row.student_number for row in rows],
                "names": [row.full_name for row in rows],
                "emails": [row.email for row in rows],
                "levels": [row.level_id for row in rows],
                "passwords": [unusable_password() for _ in rows],
            },
        )
        return dict(cursor.fetchall())


def _email_taken(email: str | None) -> bool:
    return bool(email) and User.objects.filter(email__iexact=email).exists()


@transaction.atomic
def student_create(
    *, student_number: str, full_name: str, level: str | None, email: str | None = None, password: str | None = None
) -> User:
    """Create a student. Raises Conflict when the student number or the email is taken."""
    if User.objects.filter(student_number=student_number).exists():
        raise Conflict(f"Student number {student_number} is already taken.")
    if _email_taken(email):
        raise Conflict(f"The email {email} is already taken.")
    try:
        with transaction.atomic():
            return User.objects.create_user(
                email=email or None,
                password=password or None,
                role=Role.STUDENT,
                student_number=student_number,
                full_name=full_name,
                level=level_get_or_create(name=level) if level else None,
            )
    except IntegrityError as exc:  # a concurrent create won the race
        raise Conflict("The student number or email is already taken.") from exc


@transaction.atomic
def doctor_create(*, email: str, full_name: str, password: str, subjects: list[str] | None = None) -> User:
    """Create a doctor, who may log into the admin, and give them their subjects."""
    if _email_taken(email):
        raise Conflict(f"The email {email} is already taken.")
    try:
        with transaction.atomic():
            doctor = User.objects.create_user(
                email=email, password=password, role=Role.DOCTOR, full_name=full_name, is_staff=True
            )
    except IntegrityError as exc:
        raise Conflict(f"The email {email} is already taken.") from exc
    for name in subjects or []:
        subject_get_or_create(name=name).doctors.add(doctor)
    return doctor


def api_key_create(*, user: User, name: str) -> tuple[ApiKey, str]:
    """Make a key for `user`; returns the record and the raw key, which is never stored."""
    raw = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(user=user, name=name, prefix=raw[:12], key_hash=api_key_hash(raw))
    return key, raw


def api_key_revoke(*, user: User, key_id: int) -> None:
    """Revoke a key of `user` (any key, for an admin). Another doctor's key is not found."""
    keys = ApiKey.objects.filter(pk=key_id, revoked_at__isnull=True)
    if user.role != Role.ADMIN:
        keys = keys.filter(user=user)
    if keys.update(revoked_at=timezone.now()) != 1:
        raise NotFound("No such API key.")


# --- ending sessions (core/accounts/revocation.py has the rule) ------------------------------------


def _void_entry_write(user_id: int, moment_ms: int) -> None:
    try:
        current = cache.get(void_before_name(user_id))
        if current is None or int(current) < moment_ms:
            cache.set(void_before_name(user_id), moment_ms, entry_ttl_seconds())
    except RedisError:
        logger.error("cache down: the sessions of user %s end at the next refresh, not at once", user_id)


def _refresh_tokens_blacklist(user_id: int) -> int:
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    outstanding = OutstandingToken.objects.filter(
        user_id=user_id, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    )
    made = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )
    return len(made)


def user_sessions_end(*, user_id: int, blacklist: bool = True) -> None:
    """End every session of the user that started before now: their tokens are refused from now on, on every
    endpoint and on the hot path. Written now and again when the transaction commits (a login in between is
    after the moment, so it stays valid). `blacklist=False` when the user row is being deleted."""
    moment_ms = int(time.time() * 1000) + 1  # sessions of this very millisecond are void too
    _void_entry_write(user_id, moment_ms)
    transaction.on_commit(lambda: _void_entry_write(user_id, moment_ms))
    if blacklist:
        _refresh_tokens_blacklist(user_id)
