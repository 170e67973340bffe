"""Demo data for `make run`: an admin, a doctor, a level with 20 students, and a published online
exam with 10 questions. Running it again changes nothing and prints the same logins."""

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from core.accounts.models import Role, User
from core.accounts.services import level_get_or_create, subject_get_or_create
from core.exams.models import Choice, Exam, Question

ADMIN = ("admin@example.com", "admin-password")
DOCTOR = ("doctor@example.com", "doctor-password")
STUDENT_PASSWORD = "student-password"
STUDENTS = 20
QUESTIONS = 10


def _person(email: str, password: str, **fields: object) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email, password, **fields)
    return user


class Command(BaseCommand):
    help = "Load the demo data (idempotent) and print the logins."

    @transaction.atomic
    def handle(self, *args: object, **options: object) -> None:
        if not User.objects.filter(email=ADMIN[0]).exists():
            User.objects.create_superuser(ADMIN[0], ADMIN[1], full_name="Demo Admin")
        doctor = _person(DOCTOR[0], DOCTOR[1], role=Role.DOCTOR, full_name="Dr. Demo", is_staff=True)
        level = level_get_or_create(name="Year 1")
        subject = subject_get_or_create(name="Math")
        subject.doctors.add(doctor)
        for n in range(1, STUDENTS + 1):
            _person(
                f"student{n:02d}@example.com",
                STUDENT_PASSWORD,
                role=Role.STUDENT,
                full_name=f"Demo Student {n:02d}",
                student_number=f"{n:06d}",
                level=level,
            )
        now = timezone.now()
        exam, created = Exam.objects.get_or_create(
            code="DEMO-MATH-1",
            defaults={
                "title": "Arithmetic warm-up",
                "subject": subject,
                "level": level,
                "owner": doctor,
                "kind": Exam.Kind.ONLINE,
                "opens_at": now - timedelta(hours=1),
                "closes_at": now + timedelta(days=30),
                "duration_minutes": 30,
                "grace_seconds": 30,
                "status": Exam.Status.PUBLISHED,
            },
        )
        if created:
            for position in range(1, QUESTIONS + 1):
                a, b = position + 1, position + 2
                question = Question.objects.create(exam=exam, text=f"What is {a} + {b}?", position=position)
                for offset, answer in enumerate((a + b, a + b + 1, a + b - 1, a * b)):
                    Choice.objects.create(question=question, text=str(answer), is_correct=offset == 0, position=offset)
        self.stdout.write(
            "\nDemo logins (POST /api/auth/login with email and password):\n"
            f"  admin    {ADMIN[0]} / {ADMIN[1]}   (also the admin site, /admin/)\n"
            f"  doctor   {DOCTOR[0]} / {DOCTOR[1]}   (also the admin site)\n"
            f"  students student01@example.com .. student{STUDENTS:02d}@example.com / {STUDENT_PASSWORD}\n"
            f"  exam     {exam.code} (id {exam.id}), published for Year 1, {QUESTIONS} questions\n"
        )
