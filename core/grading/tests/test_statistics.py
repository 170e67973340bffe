from __future__ import annotations

import math
import random
import statistics

from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.accounts.services import subject_get_or_create
from core.accounts.tests.factories import make_doctor, make_student
from core.exams.models import Exam
from core.grading.models import Degree
from core.grading.statistics import PercentilesCont, Summary, percentage_summary, summary


def linear_percentile(values: list[float], fraction: float) -> float:
    """numpy's default method, written out: interpolate between the closest ranks."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class StatisticsTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.exam = Exam.objects.create(
            code="STATS", title="Stats", subject=subject_get_or_create(name="Math"), owner=make_doctor(),
            kind=Exam.Kind.PAPER,
        )  # fmt: skip
        rng = random.Random(6)
        cls.marks = [(rng.randint(0, 37), 37) for _ in range(23)] + [(3, 4), (1, 3)]
        now = timezone.now()
        Degree.objects.bulk_create(
            Degree(student=make_student(password=None), exam=cls.exam, marks_obtained=o, marks_available=a,
                   source=Degree.Source.MARKR, graded_at=now)
            for o, a in cls.marks
        )  # fmt: skip

    def test_the_percentage_summary_matches_an_independent_computation(self) -> None:
        percentages = [100 * o / a for o, a in self.marks]
        result = percentage_summary(Degree.objects.filter(exam=self.exam))
        self.assertEqual(result.count, len(percentages))
        self.assertAlmostEqual(result.mean, statistics.fmean(percentages), places=9)
        self.assertAlmostEqual(result.stddev, statistics.pstdev(percentages), places=9)
        self.assertAlmostEqual(result.min, min(percentages), places=9)
        self.assertAlmostEqual(result.max, max(percentages), places=9)
        for name, fraction in (("p25", 0.25), ("p50", 0.5), ("p75", 0.75)):
            self.assertAlmostEqual(getattr(result, name), linear_percentile(percentages, fraction), places=9)

    def test_it_is_one_sql_statement(self) -> None:
        with CaptureQueriesContext(connection) as queries:
            percentage_summary(Degree.objects.filter(exam=self.exam))
        self.assertEqual(len(queries), 1)
        self.assertIn("percentile_cont", queries[0]["sql"])
        self.assertIn("STDDEV_POP", queries[0]["sql"].upper())

    def test_an_even_count_has_the_mean_of_the_middle_two_as_median(self) -> None:
        degrees = Degree.objects.filter(exam=self.exam, marks_available__in=[3, 4])  # 75% and 33.3%
        result = summary(degrees, "marks_available")
        self.assertEqual((result.count, result.p50, result.mean), (2, 3.5, 3.5))

    def test_nothing_to_summarise_gives_count_0_and_nulls(self) -> None:
        result = percentage_summary(Degree.objects.none().filter(exam=self.exam))
        empty = percentage_summary(Degree.objects.filter(exam__code="nothing"))
        self.assertEqual(empty, Summary(0, None, None, None, None, None, None, None))
        self.assertEqual(result.count, 0)

    def test_percentile_fractions_must_be_between_0_and_1(self) -> None:
        with self.assertRaises(ValueError):
            PercentilesCont("percentage", fractions=(1.5,))
