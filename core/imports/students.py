"""Bulk student import: the rows of one batch of a background `students` import job, upserted by
student_number (columns student_number, full_name, email, level). Used by core.imports.services."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models.functions import Lower

from core.accounts.models import Role, User
from core.accounts.selectors import students_visible_to
from core.accounts.services import StudentFields, levels_ensure, students_ensure
from core.accounts.validators import STUDENT_NUMBER_MESSAGE, STUDENT_NUMBER_RE

FULL_NAME_MAX = 200
LEVEL_NAME_MAX = 100
EMAIL_MAX = 254


@dataclass(frozen=True)
class StudentRow:
    line: int
    student_number: str
    full_name: str
    email: str
    level: str


def student_row_check(row: StudentRow) -> str | None:
    """Why this row cannot be imported, or None when it is fine."""
    if not STUDENT_NUMBER_RE.fullmatch(row.student_number):
        return STUDENT_NUMBER_MESSAGE
    if not row.full_name:
        return "full_name is empty."
    if len(row.full_name) > FULL_NAME_MAX:
        return f"full_name is longer than {FULL_NAME_MAX} characters."
    if row.email:
        if len(row.email) > EMAIL_MAX:
            return "email is too long."
        try:
            validate_email(row.email)
        except ValidationError:
            return f"email {row.email!r} is not a valid address."
    if len(row.level) > LEVEL_NAME_MAX:
        return f"level is longer than {LEVEL_NAME_MAX} characters."
    return None


def students_import(*, rows: list[StudentRow], user: User | None = None) -> list[dict[str, object]]:
    """Upsert a batch of students by student_number: new ones are created (no usable password), known ones get
    the row's name, email and level. A later row for the same number wins. Returns the rows that failed as
    {row, message}; the rest are stored, in one transaction per batch. A number that belongs to a user who
    is not a student, or an email that another user has, fails that row only.

    Only an admin (or no `user`: a management command) changes a known student's email or level; a doctor's
    row that would is an error, and a doctor renames only the students of their levels."""
    errors: list[dict[str, object]] = []
    latest: dict[str, StudentRow] = {}
    for row in rows:
        problem = student_row_check(row)
        if problem:
            errors.append({"row": row.line, "message": problem})
        else:
            latest[row.student_number] = row
    # The same email on two numbers inside the batch: the first keeps it.
    email_owner: dict[str, str] = {}
    for row in list(latest.values()):
        if not row.email:
            continue
        owner = email_owner.setdefault(row.email.lower(), row.student_number)
        if owner != row.student_number:
            errors.append({"row": row.line, "message": f"email {row.email} is used by student {owner} in this file."})
            del latest[row.student_number]
    with transaction.atomic():
        taken = dict(
            User.objects.annotate(email_lower=Lower("email"))
            .filter(email_lower__in=list(email_owner))
            .values_list("email_lower", "student_number")
        )
        not_students = set(
            User.objects.filter(student_number__in=list(latest))
            .exclude(role=Role.STUDENT)
            .values_list("student_number", flat=True)
        )
        for number, row in list(latest.items()):
            if number in not_students:
                errors.append({"row": row.line, "message": f"{number} belongs to a user who is not a student."})
                del latest[number]
            elif row.email and taken.get(row.email.lower(), number) != number:
                errors.append({"row": row.line, "message": f"email {row.email} is already taken by another user."})
                del latest[number]
        if user is not None and not (user.is_superuser or user.role == Role.ADMIN):
            errors.extend(_changes_refused(latest, user=user))
        levels = levels_ensure(names={row.level for row in latest.values() if row.level})
        students_ensure(
            rows=[
                StudentFields(row.student_number, row.full_name, row.email, levels.get(row.level))
                for row in latest.values()
            ],
            update=True,
        )
    errors.sort(key=lambda e: e["row"])  # type: ignore[arg-type,return-value]
    return errors


def _changes_refused(latest: dict[str, StudentRow], *, user: User) -> list[dict[str, object]]:
    """The rows in which a doctor would change a known student beyond what a doctor may; removed from `latest`."""
    known = {
        str(number): (full_name, email or "", level or "")  # never None: filtered by the numbers in `latest`
        for number, full_name, email, level in User.objects.filter(
            role=Role.STUDENT, student_number__in=list(latest)
        ).values_list("student_number", "full_name", "email", "level__name")
    }
    theirs = set(
        students_visible_to(user=user).filter(student_number__in=list(known)).values_list("student_number", flat=True)
    )
    errors: list[dict[str, object]] = []
    for number, (full_name, email, level) in known.items():
        row = latest[number]
        problem = None
        if row.email and row.email.lower() != email.lower():
            problem = f"student {number} exists: only an admin changes a student's email."
        elif row.level and row.level != level:
            problem = f"student {number} exists: only an admin moves a student to another level."
        elif row.full_name != full_name and number not in theirs:
            problem = f"student {number} is not in a level of your exams: only an admin renames them."
        if problem:
            errors.append({"row": row.line, "message": problem})
            del latest[number]
    return errors
