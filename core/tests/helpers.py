"""One small world of people, exams and grades, shared by the cross-app suites (permission matrix, fuzzing).

Built through the apps' services where they exist, so the fixtures are in the states the API itself makes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from core.accounts.models import Subject, User
from core.accounts.services import api_key_create, api_key_revoke, doctor_create, student_create
from core.accounts.tokens import SingleUseRefreshToken
from core.exams.accommodations import accommodation_set
from core.exams.models import Attempt, Exam
from core.exams.services import answers_save, attempt_start, exam_create
from core.exams.tests.factories import default_questions
from core.gradebook.models import SubjectGrade
from core.grading.models import Degree
from core.handins.services import handin_create
from core.jobs.models import Job
from core.jobs.services import job_create

PASSWORD = "matrix-pass-word-1"
LEVEL = "Year 1"
PDF_BYTES = b"%PDF-1.4\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 40 + b"%%EOF\n"


def access_token(user: User) -> str:
    return str(SingleUseRefreshToken.for_user(user).access_token)


def refresh_token(user: User) -> str:
    return str(SingleUseRefreshToken.for_user(user))


def expired_access_token(user: User) -> str:
    """A token that is right in every way (algorithm, key, audience, issuer, type) except that it has expired."""
    token = AccessToken.for_user(user)
    token["role"] = user.role
    token.set_exp(from_time=timezone.now() - timedelta(hours=2))
    return str(token)


def pdf_upload(name: str = "essay.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF_BYTES, content_type="application/pdf")


@dataclass
class World:
    tag: str
    owner: User
    other: User
    admin: User
    student_a: User
    student_b: User
    owner_key: str
    other_key: str
    revoked_key: str
    expired_jwt: str
    math: Subject  # the owner's subject
    physics: Subject  # the other doctor's subject
    online: Exam  # published, open now; A and B have started and saved answers
    draft: Exam  # the owner's draft
    released: Exam  # graded, results released, review "answers"; attempts and degrees for A and B
    unreleased: Exam  # graded, results not released; a degree for A
    paper: Exam  # a Markr/paper exam with degrees for A (overridden) and B
    handin_exam: Exam
    upload_code: str  # student A's hand-in
    verification_code: str  # of student A's one submission
    job: Job  # started by the owner doctor

    def answers_of(self, exam: Exam) -> list[tuple[int, list[int]]]:
        """(question id, [choice ids]) in order."""
        return [(q.id, [c.id for c in q.choices.all()]) for q in exam.questions.prefetch_related("choices")]


def _online_exam(*, owner: User, code: str, subject: str, status: str, released: bool = False) -> Exam:
    now = timezone.now()
    exam = exam_create(
        user=owner,
        code=code,
        title=f"Exam {code}",
        subject=subject,
        level=LEVEL,
        kind=Exam.Kind.ONLINE,
        opens_at=now - timedelta(hours=1),
        closes_at=now + timedelta(hours=3),
        duration_minutes=60,
        questions=default_questions(),
    )
    if status != Exam.Status.DRAFT or released:
        Exam.objects.filter(pk=exam.pk).update(status=status, results_released=released)
        exam.refresh_from_db()
    return exam


def build_world(tag: str) -> World:
    """Everything the matrix needs. `tag` keeps names and codes apart from other suites' data."""
    now = timezone.now()
    owner = doctor_create(
        email=f"{tag}-owner@example.test", full_name="Owner Doctor", password=PASSWORD, subjects=[f"{tag} Math"]
    )
    other = doctor_create(
        email=f"{tag}-other@example.test", full_name="Other Doctor", password=PASSWORD, subjects=[f"{tag} Physics"]
    )
    admin = User.objects.create_superuser(f"{tag}-admin@example.test", PASSWORD, full_name="Admin")
    student_a = student_create(
        student_number=f"{tag}A0001",
        full_name="Student Alpha",
        level=LEVEL,
        email=f"{tag}-a@example.test",
        password=PASSWORD,
    )
    student_b = student_create(
        student_number=f"{tag}B0002",
        full_name="Student Bravo",
        level=LEVEL,
        email=f"{tag}-b@example.test",
        password=PASSWORD,
    )
    owner_key = api_key_create(user=owner, name="owner scanner")[1]
    other_key = api_key_create(user=other, name="other scanner")[1]
    revoked, revoked_key = api_key_create(user=owner, name="old scanner")
    api_key_revoke(user=owner, key_id=revoked.id)
    math = Subject.objects.get(name=f"{tag} Math")
    physics = Subject.objects.get(name=f"{tag} Physics")

    online = _online_exam(owner=owner, code=f"{tag}-ONLINE", subject=math.name, status=Exam.Status.PUBLISHED)
    draft = _online_exam(owner=owner, code=f"{tag}-DRAFT", subject=math.name, status=Exam.Status.DRAFT)
    released = _online_exam(
        owner=owner, code=f"{tag}-RELEASED", subject=math.name, status=Exam.Status.GRADED, released=True
    )
    unreleased = _online_exam(owner=owner, code=f"{tag}-UNRELEASED", subject=math.name, status=Exam.Status.GRADED)
    paper = Exam.objects.create(
        code=f"{tag}-PAPER",
        title="Paper exam",
        subject=math,
        owner=owner,
        kind=Exam.Kind.PAPER,
        status=Exam.Status.GRADED,
    )
    handin_exam = Exam.objects.create(
        code=f"{tag}-HANDIN",
        title="Hand-in exam",
        subject=math,
        owner=owner,
        kind=Exam.Kind.HANDIN,
        status=Exam.Status.PUBLISHED,
        opens_at=now - timedelta(hours=1),
        closes_at=now + timedelta(days=1),
    )

    # Both students have started the online exam; A and B saved different choices.
    key = [(q.id, [c.id for c in q.choices.all()]) for q in online.questions.prefetch_related("choices")]
    for student, pick in ((student_a, 0), (student_b, 2)):
        attempt_start(student=student, exam_id=online.id, now=now)
        answers_save(student_id=student.id, exam_id=online.id, answers=[(key[0][0], [key[0][1][pick]])], now=now)

    # Student B has extra time in the online exam.
    number_b = student_b.student_number
    accommodation_set(user=owner, exam_id=online.id, student_number=number_b, extra_minutes=10, closes_at=None, now=now)

    Degree.objects.bulk_create(
        [
            Degree(
                student=student_a, exam=released, marks_obtained=3, marks_available=3, source="online", graded_at=now
            ),
            Degree(
                student=student_b, exam=released, marks_obtained=1, marks_available=3, source="online", graded_at=now
            ),
            Degree(
                student=student_a, exam=unreleased, marks_obtained=2, marks_available=3, source="online", graded_at=now
            ),
            Degree(student=student_a, exam=paper, marks_obtained=17, marks_available=20, source="markr", graded_at=now),
            Degree(student=student_b, exam=paper, marks_obtained=9, marks_available=20, source="markr", graded_at=now),
        ]
    )
    # The released exam shows answers after release: both students took it. A's paper degree is overridden.
    Exam.objects.filter(pk=released.pk).update(review=Exam.Review.ANSWERS)
    Attempt.objects.bulk_create(
        Attempt(exam=released, student=s, started_at=now, deadline=now, finished_at=now) for s in (student_a, student_b)
    )
    Degree.objects.filter(student=student_a, exam=paper).update(
        source="manual", override_by=owner, override_reason="re-marked", override_at=now, previous_marks_obtained=16,
        previous_source="markr",
    )  # fmt: skip
    SubjectGrade.objects.bulk_create(
        [
            SubjectGrade(student=student_a, subject=math, grade=81),
            SubjectGrade(student=student_a, subject=physics, grade=72),
            SubjectGrade(student=student_b, subject=math, grade=63),
        ]
    )

    handin = handin_create(user=owner, exam_id=handin_exam.id, student_number=student_a.student_number)
    response = APIClient().post(f"/submissions/{handin.upload_code}", {"file": pdf_upload()}, format="multipart")
    assert response.status_code == 201, response.content
    verification_code = response.json()["last_submission"]["verification_code"]

    job = job_create(kind=Job.Kind.GRADE_EXAM, created_by=owner, params={"exam_id": released.id})

    return World(
        tag=tag,
        owner=owner,
        other=other,
        admin=admin,
        student_a=student_a,
        student_b=student_b,
        owner_key=owner_key,
        other_key=other_key,
        revoked_key=revoked_key,
        expired_jwt=expired_access_token(admin),
        math=math,
        physics=physics,
        online=online,
        draft=draft,
        released=released,
        unreleased=unreleased,
        paper=paper,
        handin_exam=handin_exam,
        upload_code=handin.upload_code,
        verification_code=verification_code,
        job=job,
    )
