from __future__ import annotations

from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from core.accounts.tests.factories import api_key_for, client_for, make_admin, make_doctor, make_student
from core.gradebook.tests.factories import MARKR, Row, document, make_exam


class TestAggregateTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()
        cls.admin = make_admin()
        client_for(cls.doctor).post(
            "/import", data=document([Row("1", "AGG", 1, 4), Row("2", "AGG", 2, 4)]), content_type=MARKR
        )

    def test_the_body_has_exactly_the_contract_keys(self) -> None:
        body = client_for(self.doctor).get("/results/AGG/aggregate").json()
        self.assertEqual(
            body, {"mean": 37.5, "stddev": 12.5, "min": 25.0, "max": 50.0, "p25": 31.25, "p50": 37.5, "p75": 43.75,
                   "count": 2},
        )  # fmt: skip

    def test_a_test_with_degrees_is_one_sql_statement_after_authentication(self) -> None:
        client = client_for(self.doctor)
        client.get("/results/AGG/aggregate")
        with CaptureQueriesContext(connection) as queries:
            client.get("/results/AGG/aggregate")
        self.assertEqual(sum("percentile_cont" in q["sql"] for q in queries), 1)
        self.assertFalse(any("exams_exam" in q["sql"] and "percentile_cont" not in q["sql"] for q in queries))

    def test_an_unknown_test_is_a_404_not_found(self) -> None:
        response = client_for(self.doctor).get("/results/NOPE/aggregate")
        self.assertEqual((response.status_code, response.json()["error"]), (404, "not_found"))

    def test_another_doctors_test_is_a_404_and_an_admin_sees_all(self) -> None:
        self.assertEqual(client_for(make_doctor()).get("/results/AGG/aggregate").status_code, 404)
        self.assertEqual(client_for(self.admin).get("/results/AGG/aggregate").json()["count"], 2)

    def test_a_known_test_without_degrees_has_count_0_and_nulls(self) -> None:
        make_exam(code="EMPTY", owner=self.doctor)
        body = client_for(api_key=api_key_for(self.doctor)).get("/results/EMPTY/aggregate").json()
        self.assertEqual(body["count"], 0)
        self.assertIsNone(body["p50"])

    def test_anonymous_is_401_and_a_student_is_403(self) -> None:
        self.assertEqual(APIClient().get("/results/AGG/aggregate").status_code, 401)
        self.assertEqual(client_for(make_student()).get("/results/AGG/aggregate").status_code, 403)
