"""degrees_merge: the one GREATEST merge of imported degrees (Markr's POST /import and the background imports)."""

from __future__ import annotations

from django.test import TestCase
from django.utils import timezone

from core.accounts.tests.factories import make_doctor, make_student
from core.exams.models import Exam
from core.exams.tests.factories import make_exam
from core.grading.models import Degree
from core.grading.services import degrees_merge


class DegreesMergeTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.exam = make_exam(owner=make_doctor(), kind=Exam.Kind.PAPER, questions=[])
        cls.one, cls.two = make_student(), make_student()

    def marks(self, student_id: int) -> tuple[int, int, str]:
        degree = Degree.objects.get(student_id=student_id, exam=self.exam)
        return int(degree.marks_obtained), degree.marks_available, degree.source

    def test_it_creates_then_keeps_the_highest_obtained_and_available_each_on_its_own(self) -> None:
        degrees_merge(marks={(self.one.pk, self.exam.pk): (7, 10)}, source=Degree.Source.MARKR)
        self.assertEqual(self.marks(self.one.pk), (7, 10, "markr"))
        degrees_merge(marks={(self.one.pk, self.exam.pk): (5, 20)}, source=Degree.Source.UPLOAD)
        self.assertEqual(self.marks(self.one.pk), (7, 20, "upload"))
        degrees_merge(marks={(self.one.pk, self.exam.pk): (3, 8)}, source=Degree.Source.MARKR)
        self.assertEqual(self.marks(self.one.pk), (7, 20, "upload"))  # nothing higher: not rewritten

    def test_an_overridden_degree_stays_as_its_doctor_set_it(self) -> None:
        Degree.objects.create(
            student=self.two,
            exam=self.exam,
            marks_obtained=2,
            marks_available=10,
            source=Degree.Source.MANUAL,
            graded_at=timezone.now(),
            override_at=timezone.now(),
        )
        degrees_merge(marks={(self.two.pk, self.exam.pk): (9, 10)}, source=Degree.Source.MARKR)
        self.assertEqual(self.marks(self.two.pk), (2, 10, "manual"))
