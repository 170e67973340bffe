"""GET /results: the Markr API's list of stored results, scoped like the aggregate."""

from __future__ import annotations

from django.test import TestCase
from django.utils import timezone
from rest_framework.test import APIClient

from core.accounts.tests.factories import api_key_for, client_for, make_admin, make_doctor, make_student
from core.gradebook.tests.factories import MARKR
from core.grading.models import Degree


def result(number: str, test_id: str, obtained: int, available: int, *, first: str, last: str, scanned: str) -> str:
    scanned_on = f' scanned-on="{scanned}"' if scanned else ""
    return (
        f"<mcq-test-result{scanned_on}><first-name>{first}</first-name><last-name>{last}</last-name>"
        f"<student-number>{number}</student-number><test-id>{test_id}</test-id>"
        f'<summary-marks available="{available}" obtained="{obtained}"/></mcq-test-result>'
    )


def document(*results: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><mcq-test-results>{"".join(results)}</mcq-test-results>'


class ResultsListTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()
        cls.admin = make_admin()
        body = document(
            result("RL002", "RL-T1", 13, 20, first="KJ", last="Alysander", scanned="2017-12-04T12:12:10+11:00"),
            result("RL001", "RL-T1", 9, 20, first="Mary Jane", last="Watson", scanned="2017-12-04T12:13:10+11:00"),
            # A rescan of RL002: the highest of each mark, the latest scan time.
            result("RL002", "RL-T1", 11, 22, first="KJ", last="Alysander", scanned="2017-12-05T09:00:00Z"),
            result("RL001", "RL-T2", 5, 10, first="Mary Jane", last="Watson", scanned=""),
        )
        response = client_for(cls.doctor).post("/import", data=document_bytes(body), content_type=MARKR)
        assert response.status_code == 201, response.content

    def rows(self, path: str, client: APIClient | None = None) -> list[dict]:
        response = (client or client_for(self.doctor)).get(path)
        self.assertEqual(response.status_code, 200, response.content)
        return response.json()["results"]

    def test_it_lists_the_stored_results_by_test_and_student_number(self) -> None:
        self.assertEqual(
            self.rows("/results"),
            [
                {
                    "test_id": "RL-T1",
                    "student_number": "RL001",
                    "first_name": "Mary Jane",
                    "last_name": "Watson",
                    "marks_available": 20,
                    "marks_obtained": 9,
                    "scanned_on": "2017-12-04T01:13:10Z",
                },
                {
                    "test_id": "RL-T1",
                    "student_number": "RL002",
                    "first_name": "KJ",
                    "last_name": "Alysander",
                    "marks_available": 22,
                    "marks_obtained": 13,
                    "scanned_on": "2017-12-05T09:00:00Z",
                },
                {
                    "test_id": "RL-T2",
                    "student_number": "RL001",
                    "first_name": "Mary Jane",
                    "last_name": "Watson",
                    "marks_available": 10,
                    "marks_obtained": 5,
                    "scanned_on": None,
                },
            ],
        )

    def test_test_id_keeps_one_tests_results_and_pages_follow_the_convention(self) -> None:
        body = client_for(self.doctor).get("/results?test_id=RL-T1&page_size=1").json()
        self.assertEqual(set(body), {"count", "next", "previous", "results"})
        self.assertEqual(body["count"], 2)
        self.assertEqual([r["student_number"] for r in body["results"]], ["RL001"])
        second = client_for(self.doctor).get("/results?test_id=RL-T1&page_size=1&page=2").json()
        self.assertEqual([r["student_number"] for r in second["results"]], ["RL002"])
        self.assertEqual(self.rows("/results?test_id=NOPE"), [])

    def test_it_is_scoped_like_the_aggregate(self) -> None:
        self.assertEqual(self.rows("/results", client_for(make_doctor())), [])
        self.assertEqual(len(self.rows("/results?test_id=RL-T1", client_for(api_key=api_key_for(self.doctor)))), 2)
        self.assertEqual(len(self.rows("/results?test_id=RL-T1", client_for(self.admin))), 2)
        self.assertEqual(APIClient().get("/results").status_code, 401)
        self.assertEqual(client_for(make_student()).get("/results").status_code, 403)

    def test_a_result_that_was_not_scanned_takes_its_names_from_the_student(self) -> None:
        student = make_student()
        exam_id = Degree.objects.filter(exam__code="RL-T2").values_list("exam_id", flat=True).first()
        Degree.objects.create(
            student=student,
            exam_id=exam_id,
            marks_obtained=4,
            marks_available=10,
            source="upload",
            graded_at=timezone.now(),
        )
        first, _, last = student.full_name.partition(" ")
        row = next(r for r in self.rows("/results?test_id=RL-T2") if r["student_number"] == student.student_number)
        self.assertEqual((row["first_name"], row["last_name"], row["scanned_on"]), (first, last, None))


def document_bytes(text: str) -> bytes:
    return text.encode()
