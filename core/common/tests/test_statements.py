from __future__ import annotations

from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext

from core.common.statements import Statement


class StatementTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.readers = Group.objects.create(name="readers")
        cls.writers = Group.objects.create(name="writers")

    def test_it_runs_the_orms_own_sql_with_new_values_without_compiling_again(self) -> None:
        by_name = Statement(lambda name: list(Group.objects.filter(name=name).values_list("id", "name")), name="?")
        self.assertEqual(by_name.fetchone(name="readers"), (self.readers.id, "readers"))
        with CaptureQueriesContext(connection) as queries:
            self.assertEqual(by_name.fetchone(name="writers"), (self.writers.id, "writers"))
            self.assertIsNone(by_name.fetchone(name="nobody"))
        self.assertEqual(len(queries), 2)
        self.assertEqual(queries[0]["sql"], queries[1]["sql"].replace("'nobody'", "'writers'"))

    def test_it_maps_each_parameter_to_its_argument_whatever_the_order(self) -> None:
        def build(*, low: int, name: str) -> object:
            return list(Group.objects.filter(name=name, id__gte=low).values_list("name", flat=True))

        either = Statement(build, name="?", low=-1)
        self.assertEqual(either.fetchone(low=self.writers.id, name="writers"), ("writers",))
        self.assertIsNone(either.fetchone(low=self.writers.id + 1, name="writers"))

    def test_it_refuses_a_query_that_sends_a_constant_it_was_not_given(self) -> None:
        fixed = Statement(lambda name: list(Group.objects.filter(name=name).exclude(name="admins")), name="?")
        with self.assertRaises(ImproperlyConfigured):
            fixed.fetchone(name="readers")

    def test_it_refuses_a_build_of_more_than_one_query(self) -> None:
        twice = Statement(lambda name: (Group.objects.filter(name=name).count(), list(Group.objects.all())), name="?")
        with self.assertRaises(ImproperlyConfigured):
            twice.fetchone(name="readers")

    def test_it_refuses_values_for_other_arguments(self) -> None:
        by_name = Statement(lambda name: list(Group.objects.filter(name=name)), name="?")
        with self.assertRaises(TypeError):
            by_name.fetchone(title="readers")

    def test_it_prepares_its_statement_once_per_connection(self) -> None:
        by_name = Statement(lambda name: list(Group.objects.filter(name=name).values_list("id", flat=True)), name="?")
        for name in ("readers", "writers", "readers"):
            self.assertEqual(by_name.fetchone(name=name), (getattr(self, name).id,))
        sql, _ = by_name.sql()
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%auth_group%$1%"])
            self.assertEqual(cursor.fetchone(), (1,))
        self.assertIn('"auth_group"."name" = %s', sql)
