"""GET /results after a background Markr import: the job keeps the names and scan times that POST /import keeps."""

from __future__ import annotations

import io

from django.test import TestCase

from core.accounts.tests.factories import client_for, make_doctor
from core.gradebook.tests.test_results_list import document, document_bytes, result
from core.imports.services import import_run, import_start
from core.jobs.models import Job


class BackgroundImportResultsTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()

    def rows(self, path: str) -> list[dict]:
        response = client_for(self.doctor).get(path)
        self.assertEqual(response.status_code, 200, response.content)
        return response.json()["results"]

    def test_a_background_import_keeps_the_names_and_scan_time_too(self) -> None:
        body = document(result("RL003", "RL-T3", 7, 10, first="Jane", last="Austen", scanned="2020-01-02T03:04:05Z"))
        job = import_start(
            user=self.doctor, kind=Job.Kind.IMPORT_MARKR, file=io.BytesIO(document_bytes(body)), file_name="f"
        )
        import_run(job_id=job.pk)
        self.assertEqual(
            self.rows("/results?test_id=RL-T3"),
            [
                {
                    "test_id": "RL-T3",
                    "student_number": "RL003",
                    "first_name": "Jane",
                    "last_name": "Austen",
                    "marks_available": 10,
                    "marks_obtained": 7,
                    "scanned_on": "2020-01-02T03:04:05Z",
                }
            ],
        )
