from __future__ import annotations

import random

from django.test import TestCase, override_settings

from core.accounts.models import Role, User
from core.accounts.tests.factories import api_key_for, client_for, make_admin, make_doctor, make_student
from core.exams.models import Exam
from core.gradebook.tests.factories import (
    MARKR,
    Row,
    degree_of,
    document,
    expected_summary,
    generated_rows,
    make_exam,
    merged_percentages,
    result_xml,
)
from core.grading.models import Degree

GOOD = Row("002299", "9863", obtained=13, available=20, first_name="KJ", last_name="Alysander")


class MarkrImportTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()
        cls.admin = make_admin()

    def post(self, body: bytes, *, content_type: str = MARKR, client=None):
        return (client or client_for(self.doctor)).post("/import", data=body, content_type=content_type)

    def aggregate(self, test_id: str, client=None):
        return (client or client_for(self.doctor)).get(f"/results/{test_id}/aggregate")

    def assert_summary(self, actual: dict, expected: dict) -> None:
        self.assertEqual(set(actual), set(expected))
        self.assertEqual(actual["count"], expected["count"])
        self.assertIsInstance(actual["count"], int)
        for key in ("mean", "stddev", "min", "max", "p25", "p50", "p75"):
            self.assertAlmostEqual(actual[key], expected[key], places=9, msg=key)

    # The brief's example and what it creates

    def test_a_single_record_creates_the_paper_exam_the_student_and_the_degree(self) -> None:
        response = self.post(document([GOOD]))
        self.assertEqual(response.status_code, 201)
        self.assertEqual(response.json(), {"imported": 1, "tests": ["9863"]})
        exam = Exam.objects.get(code="9863")
        self.assertEqual((exam.kind, exam.owner), (Exam.Kind.PAPER, self.doctor))
        student = User.objects.get(student_number="002299")
        self.assertEqual((student.role, student.full_name), (Role.STUDENT, "KJ Alysander"))
        self.assertFalse(student.has_usable_password())
        degree = degree_of("002299", "9863")
        self.assertEqual((degree.marks_obtained, degree.marks_available, degree.source), (13, 20, "markr"))
        degree.refresh_from_db()
        self.assertAlmostEqual(degree.percentage, 65.0)
        body = self.aggregate("9863").json()
        self.assertEqual(body, {"mean": 65.0, "stddev": 0.0, "min": 65.0, "max": 65.0, "p25": 65.0, "p50": 65.0,
                                "p75": 65.0, "count": 1})  # fmt: skip

    def test_an_existing_student_keeps_their_name_and_number(self) -> None:
        student = make_student(number="002299")
        self.post(document([GOOD]))
        student.refresh_from_db()
        self.assertEqual(student.full_name.startswith("Student"), True)
        self.assertEqual(degree_of("002299", "9863").student, student)

    def test_elements_in_any_order_with_unknown_ones_are_read(self) -> None:
        result = (
            "<mcq-test-result><summary-marks obtained='3' available='4'/><unknown>x</unknown>"
            "<test-id>T1</test-id><answer question='1'>A</answer><student-number>0007</student-number>"
            "<last-name>Hopper</last-name><first-name>Grace</first-name></mcq-test-result>"
        )
        response = self.post(document([result, "<something-else/>"]))
        self.assertEqual(response.status_code, 201, response.content)
        self.assertEqual(User.objects.get(student_number="0007").full_name, "Grace Hopper")
        self.assertEqual(degree_of("0007", "T1").marks_obtained, 3)

    def test_the_response_lists_each_test_once_sorted(self) -> None:
        rows = [Row("1", "B", 1, 2), Row("1", "A", 1, 2), Row("2", "B", 1, 2)]
        self.assertEqual(self.post(document(rows)).json(), {"imported": 3, "tests": ["A", "B"]})

    # Generated round trip with known statistics

    def test_a_generated_class_reproduces_its_statistics_once_twice_or_split(self) -> None:
        rows = generated_rows(test_id="G1", students=81, seed=9863, repeats=19)
        expected = expected_summary(merged_percentages(rows))
        self.assertEqual(self.post(document(rows)).json(), {"imported": 100, "tests": ["G1"]})
        self.assert_summary(self.aggregate("G1").json(), expected)
        self.assertEqual(self.post(document(rows)).status_code, 201)
        self.assert_summary(self.aggregate("G1").json(), expected)
        for part in (rows[:37], rows[37:70], rows[70:]):
            self.assertEqual(self.post(document(part)).status_code, 201)
        self.assert_summary(self.aggregate("G1").json(), expected)
        self.assertEqual(Degree.objects.filter(exam__code="G1").count(), 81)

    def test_a_generated_class_reproduces_the_published_aggregate_of_api_md(self) -> None:
        # A class built here (not the canonical sample) whose marks out of 20 have the published figures:
        # count 81, mean 50.8025, stddev 9.9212, min 30, max 75, p25 45, p50 50, p75 55.
        histogram = {6: 6, 7: 1, 8: 7, 9: 13, 10: 19, 11: 18, 12: 8, 13: 4, 14: 4, 15: 1}
        marks = [k for k, count in histogram.items() for _ in range(count)]
        published = {"count": 81, "mean": 50.8025, "stddev": 9.9212, "min": 30.0, "max": 75.0,
                     "p25": 45.0, "p50": 50.0, "p75": 55.0}  # fmt: skip
        for test_id, split in (("ONCE", None), ("TWICE", 0), ("SPLIT", 40)):
            rows = [Row(f"{n:06d}", test_id, obtained, 20) for n, obtained in enumerate(marks)]
            rows += [Row(row.student_number, test_id, row.obtained // 2, 20) for row in rows[::4]]  # lower rescans
            random.Random(9863).shuffle(rows)
            parts = [rows] if split is None else [rows, rows] if split == 0 else [rows[:split], rows[split:]]
            for part in parts:
                self.assertEqual(self.post(document(part)).status_code, 201)
            body = self.aggregate(test_id).json()
            self.assertEqual({key: round(value, 4) for key, value in body.items()}, published, test_id)

    # Duplicates: the Markr rule, within one document and across documents, in both orders

    def test_duplicates_in_one_document_keep_the_highest_of_each_count(self) -> None:
        for code, pair in (("D1", [Row("5", "D1", 10, 20), Row("5", "D1", 12, 30)]),):
            for order in (pair, pair[::-1]):
                Degree.objects.filter(exam__code=code).delete()
                self.assertEqual(self.post(document(order)).status_code, 201)
                degree = degree_of("5", code)
                self.assertEqual((degree.marks_obtained, degree.marks_available), (12, 30))

    def test_the_highest_obtained_and_available_are_kept_each_on_its_own(self) -> None:
        pair = [Row("5", "D2", 15, 20), Row("5", "D2", 11, 25)]
        for order in (pair, pair[::-1]):
            Degree.objects.filter(exam__code="D2").delete()
            self.post(document(order))
            degree = degree_of("5", "D2")
            self.assertEqual((degree.marks_obtained, degree.marks_available), (15, 25))
            degree.refresh_from_db()
            self.assertAlmostEqual(degree.percentage, 60.0)

    def test_duplicates_across_requests_keep_the_highest_in_either_order(self) -> None:
        first, second = Row("6", "D3", 15, 20), Row("6", "D3", 11, 25)
        for order in ((first, second), (second, first)):
            Degree.objects.filter(exam__code="D3").delete()
            for row in order:
                self.assertEqual(self.post(document([row])).status_code, 201)
            degree = degree_of("6", "D3")
            self.assertEqual((degree.marks_obtained, degree.marks_available), (15, 25))

    def test_a_lower_rescan_changes_nothing(self) -> None:
        self.post(document([Row("6", "D4", 15, 20)]))
        before = degree_of("6", "D4")
        self.post(document([Row("6", "D4", 10, 20)]))
        after = degree_of("6", "D4")
        self.assertEqual((after.marks_obtained, after.graded_at), (15, before.graded_at))

    # Content types and sizes

    def test_content_type_parameters_and_case_are_accepted(self) -> None:
        for content_type in ("text/xml+markr; charset=utf-8", "TEXT/XML+MARKR", "Text/Xml+Markr ;charset=UTF-8"):
            self.assertEqual(self.post(document([GOOD]), content_type=content_type).status_code, 201, content_type)

    def test_other_content_types_are_a_415(self) -> None:
        for content_type in ("text/xml", "application/json", "application/xml", "text/xml+markrx"):
            response = self.post(document([GOOD]), content_type=content_type)
            self.assertEqual(response.status_code, 415, content_type)
            self.assertEqual(response.json()["error"], "unsupported_media_type")
        self.assertFalse(Exam.objects.filter(code="9863").exists())

    @override_settings(MARKR_MAX_BYTES=2000)
    def test_a_body_above_the_configured_size_is_a_413(self) -> None:
        body = document([Row(str(n), "BIG", 1, 2) for n in range(20)])
        self.assertGreater(len(body), 2000)
        response = self.post(body)
        self.assertEqual(response.status_code, 413)
        self.assertEqual(response.json()["error"], "payload_too_large")
        self.assertFalse(Exam.objects.filter(code="BIG").exists())

    def test_a_body_above_the_django_upload_limit_but_below_markrs_is_taken(self) -> None:
        rows = [Row(f"{n:05d}", "LARGE", n % 7, 7, answers=20) for n in range(2000)]
        body = document(rows)
        with self.settings(DATA_UPLOAD_MAX_MEMORY_SIZE=len(body) // 2):
            response = self.post(body)
        self.assertEqual(response.status_code, 201, response.content[:300])
        self.assertEqual(Degree.objects.filter(exam__code="LARGE").count(), 2000)

    # Who may import

    def test_anonymous_is_a_401(self) -> None:
        from rest_framework.test import APIClient

        self.assertEqual(self.post(document([GOOD]), client=APIClient()).status_code, 401)

    def test_a_student_is_a_403(self) -> None:
        self.assertEqual(self.post(document([GOOD]), client=client_for(make_student())).status_code, 403)

    def test_an_api_key_imports_for_its_doctor(self) -> None:
        client = client_for(api_key=api_key_for(self.doctor))
        self.assertEqual(self.post(document([GOOD]), client=client).status_code, 201)
        self.assertEqual(Exam.objects.get(code="9863").owner, self.doctor)
        self.assertEqual(self.aggregate("9863", client=client).json()["count"], 1)

    def test_an_admin_import_creates_an_exam_owned_by_no_one(self) -> None:
        self.assertEqual(self.post(document([GOOD]), client=client_for(self.admin)).status_code, 201)
        self.assertIsNone(Exam.objects.get(code="9863").owner)

    def test_importing_into_an_online_or_handin_exam_is_a_409_and_stores_nothing(self) -> None:
        for kind in (Exam.Kind.ONLINE, Exam.Kind.HANDIN):
            make_exam(code=f"ON-{kind}", kind=kind, owner=self.doctor)
            response = self.post(document([Row("77", "NEW", 1, 2), Row("77", f"ON-{kind}", 1, 2)]))
            self.assertEqual(response.status_code, 409, kind)
            self.assertIn("Result 2", response.json()["detail"])
        self.assertFalse(Exam.objects.filter(code="NEW").exists())
        self.assertFalse(User.objects.filter(student_number="77").exists())

    def test_importing_into_another_doctors_paper_exam_is_a_404(self) -> None:
        make_exam(code="THEIRS", owner=make_doctor())
        response = self.post(document([Row("78", "THEIRS", 1, 2)]))
        self.assertEqual(response.status_code, 404)
        self.assertFalse(Degree.objects.filter(exam__code="THEIRS").exists())
        self.assertEqual(
            self.post(document([Row("78", "THEIRS", 1, 2)]), client=client_for(self.admin)).status_code, 201
        )

    def test_importing_into_ones_own_paper_exam_merges(self) -> None:
        make_exam(code="MINE", owner=self.doctor)
        self.assertEqual(self.post(document([Row("79", "MINE", 1, 2)])).status_code, 201)
        self.assertEqual(Exam.objects.filter(code="MINE").count(), 1)


class MarkrRejectionTests(TestCase):
    """Every bad document is rejected whole, and nothing is stored."""

    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()

    def setUp(self) -> None:
        self.users_before = User.objects.count()

    def post(self, body: bytes):
        return client_for(self.doctor).post("/import", data=body, content_type=MARKR)

    def assert_nothing_stored(self) -> None:
        self.assertEqual(Exam.objects.count(), 0)
        self.assertEqual(Degree.objects.count(), 0)
        self.assertEqual(User.objects.count(), self.users_before)

    def assert_rejected(self, body: bytes, status: int, *, index: int | None = None) -> dict:
        response = self.post(body)
        self.assertEqual(response.status_code, status, response.content)
        payload = response.json()
        self.assertEqual(set(payload) - {"fields"}, {"error", "detail"})
        if index is not None:
            self.assertIn(f"Result {index} ", payload["detail"])
            self.assertEqual(list(payload["fields"]), [f"mcq-test-result[{index}]"])
        self.assert_nothing_stored()
        return payload

    def bad_third(self, bad: str) -> bytes:
        """Two good results, then `bad` at index 3, then a good one."""
        good = [result_xml(Row(str(n), "T-ATOMIC", 1, 2)) for n in (101, 102, 104)]
        return document([good[0], good[1], bad, good[2]])

    def test_a_bad_record_at_index_3_stores_nothing_and_is_named(self) -> None:
        payload = self.assert_rejected(self.bad_third(result_xml(Row("103", "T-ATOMIC", 5, 4))), 422, index=3)
        self.assertEqual(payload["error"], "validation_error")

    def test_not_well_formed_empty_or_truncated_is_a_400(self) -> None:
        whole = document([GOOD])
        for body in (
            b"",
            b"   \n",
            whole[: len(whole) // 2],
            b"<mcq-test-results><a></b></mcq-test-results>",
            b"not xml",
        ):
            self.assertEqual(self.assert_rejected(body, 400)["error"], "malformed_body", body)

    def test_a_dtd_is_a_400(self) -> None:
        body = (
            b'<?xml version="1.0"?><!DOCTYPE mcq-test-results [<!ELEMENT mcq-test-results ANY>]>'
            + document([GOOD]).split(b"?>", 1)[1]
        )
        self.assertEqual(self.assert_rejected(body, 400)["error"], "dtd_forbidden")

    def test_an_external_dtd_is_a_400(self) -> None:
        body = b'<!DOCTYPE mcq-test-results SYSTEM "http://127.0.0.1:9/x.dtd">' + document([GOOD]).split(b"?>", 1)[1]
        self.assert_rejected(body, 400)

    def test_entity_declarations_and_billion_laughs_are_a_400(self) -> None:
        laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
        bombs = [
            f'<!DOCTYPE mcq-test-results [<!ENTITY l0 "lol">{laughs}]>'
            "<mcq-test-results><mcq-test-result><first-name>&l9;</first-name></mcq-test-result></mcq-test-results>",
            '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><mcq-test-results>'
            "<mcq-test-result><first-name>&x;</first-name></mcq-test-result></mcq-test-results>",
            "<mcq-test-results><mcq-test-result><first-name>&undeclared;</first-name></mcq-test-result>"
            "</mcq-test-results>",
        ]
        for body in bombs:
            self.assert_rejected(body.encode(), 400)

    def test_a_wrong_root_is_a_422(self) -> None:
        body = f"<results>{result_xml(GOOD)}</results>".encode()
        self.assertEqual(self.assert_rejected(body, 422)["error"], "validation_error")

    def test_a_document_without_results_is_a_422(self) -> None:
        self.assert_rejected(b"<mcq-test-results></mcq-test-results>", 422)

    def test_missing_elements_or_attributes_are_a_422(self) -> None:
        full = result_xml(GOOD)
        for removed in (
            "<student-number>002299</student-number>",
            "<test-id>9863</test-id>",
            '<summary-marks available="20" obtained="13" />',
            ' available="20"',
            ' obtained="13"',
        ):
            self.assertIn(removed, full)
            self.assert_rejected(self.bad_third(full.replace(removed, "")), 422, index=3)

    def test_empty_student_number_or_test_id_is_a_422(self) -> None:
        for row in (Row("", "T", 1, 2), Row("1", " ", 1, 2), Row("a b", "T", 1, 2)):
            self.assert_rejected(self.bad_third(result_xml(row)), 422, index=3)

    def test_numbers_must_be_non_negative_integers(self) -> None:
        for obtained, available in (("-1", "2"), ("1", "-2"), ("1.5", "2"), ("1", "2.0"), ("x", "2"), ("", "2"),
                                    ("1", "1e3"), ("1", "99999999999"), ("\uff11", "2")):  # fmt: skip
            bad = f'<mcq-test-result><student-number>1</student-number><test-id>T</test-id><summary-marks available="{available}" obtained="{obtained}"/></mcq-test-result>'  # noqa: E501
            self.assert_rejected(self.bad_third(bad), 422, index=3)

    def test_available_of_zero_is_a_422(self) -> None:
        self.assert_rejected(self.bad_third(result_xml(Row("1", "T", 0, 0))), 422, index=3)

    def test_obtained_above_available_is_a_422(self) -> None:
        self.assert_rejected(self.bad_third(result_xml(Row("1", "T", 21, 20))), 422, index=3)

    def test_a_duplicated_child_element_is_a_422(self) -> None:
        full = result_xml(GOOD)
        duplicates = ("<test-id>9863</test-id>", "<student-number>002299</student-number>",
                      '<summary-marks available="20" obtained="13" />', "<first-name>KJ</first-name>")  # fmt: skip
        for duplicated in duplicates:
            bad = full.replace(duplicated, duplicated + duplicated.replace("9863", "9864"))
            payload = self.assert_rejected(self.bad_third(bad), 422, index=3)
            self.assertIn("more than once", payload["detail"])

    def test_a_test_id_that_is_too_long_or_has_a_slash_is_a_422(self) -> None:
        for test_id in ("x" * 65, "a/b"):
            self.assert_rejected(self.bad_third(result_xml(Row("1", test_id, 1, 2))), 422, index=3)

    def test_a_test_id_of_64_characters_is_taken(self) -> None:
        self.assertEqual(self.post(document([Row("1", "x" * 64, 1, 2)])).status_code, 201)

    def test_the_first_bad_result_is_the_one_named(self) -> None:
        bad = result_xml(Row("1", "T", 3, 2))
        body = document([result_xml(GOOD), bad, bad.replace('obtained="3"', 'obtained="-3"')])
        self.assert_rejected(body, 422, index=2)
