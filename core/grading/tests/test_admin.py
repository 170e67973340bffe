import io
from datetime import timedelta

from django.contrib.admin.sites import site
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase
from django.utils import timezone
from openpyxl import load_workbook
from tablib import Dataset

from core.accounts.models import User
from core.accounts.tests.factories import client_for
from core.answers.store import SaveOrigin, answer_store
from core.audit.models import AuditRecord
from core.exams.models import Accommodation, Attempt, Exam
from core.grading.admin import GradingExamAdmin
from core.grading.models import Degree
from core.grading.resources import DegreeResource
from core.grading.selectors import exam_stats
from core.grading.services import student_grade
from core.grading.tests.factories import answer, key_of, make_admin, make_doctor, make_exam, make_student, start
from core.jobs.models import Job


def import_rows(user: object, rows: list[tuple]) -> object:
    data = Dataset(headers=["exam", "student_number", "full_name", "marks_obtained", "marks_available"])
    for row in rows:
        data.append(row)
    return DegreeResource(user=user).import_data(data, dry_run=False, raise_errors=False)


class DegreeImportTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor, cls.other = make_doctor(), make_doctor()
        cls.paper = make_exam(owner=cls.doctor, kind=Exam.Kind.PAPER, questions=[])
        cls.online = make_exam(owner=cls.doctor)

    def test_importing_into_a_paper_exam_keeps_the_highest_marks_each_on_its_own(self) -> None:
        result = import_rows(
            self.doctor,
            [(self.paper.code, "p-001", "Ann", 7, 10), (self.paper.code, "p-001", "Ann", 5, 12)],
        )
        self.assertFalse(result.has_errors() or result.has_validation_errors())
        degree = Degree.objects.get(exam=self.paper, student__student_number="p-001")
        self.assertEqual((degree.marks_obtained, degree.marks_available, degree.source), (7, 12, "upload"))
        self.assertEqual(degree.student.full_name, "Ann")

    def test_importing_into_an_online_exam_is_refused(self) -> None:
        result = import_rows(self.doctor, [(self.online.code, "p-002", "Bo", 3, 6)])
        self.assertTrue(result.has_errors() or result.has_validation_errors())
        self.assertFalse(Degree.objects.filter(exam=self.online).exists())

    def test_a_doctor_cannot_import_into_someone_elses_exam(self) -> None:
        result = import_rows(self.other, [(self.paper.code, "p-003", "Cy", 3, 6)])
        self.assertTrue(result.has_errors() or result.has_validation_errors())
        self.assertFalse(Degree.objects.exists())

    def test_it_refuses_a_student_number_that_the_api_refuses(self) -> None:
        for number in ("p 004", "p/004", "x" * 65):
            api = client_for(self.doctor).post(
                "/api/students", {"full_name": "Di", "student_number": number, "level": "Year 1"}, format="json"
            )
            self.assertEqual(api.status_code, 400, number)
            result = import_rows(self.doctor, [(self.paper.code, number, "Di", 3, 6)])
            self.assertTrue(result.has_errors() or result.has_validation_errors(), number)
        self.assertFalse(Degree.objects.exists())
        self.assertFalse(User.objects.filter(full_name="Di").exists())


class DegreeAdminTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor, cls.other = make_doctor(), make_doctor()
        cls.exam = make_exam(owner=cls.doctor, kind=Exam.Kind.PAPER, questions=[])
        cls.others_exam = make_exam(owner=cls.other, kind=Exam.Kind.PAPER, questions=[])
        now = timezone.now()
        for exam, number in ((cls.exam, "mine-1"), (cls.others_exam, "theirs-1")):
            Degree.objects.create(
                exam=exam,
                student=make_student(number=number),
                marks_obtained=1,
                marks_available=2,
                source="markr",
                graded_at=now,
            )

    def test_a_doctor_sees_only_degrees_of_their_own_exams(self) -> None:
        self.client.force_login(self.doctor)
        page = self.client.get("/admin/grading/degree/")
        self.assertContains(page, "mine-1")
        self.assertNotContains(page, "theirs-1")

    def test_the_export_is_scoped_too(self) -> None:
        self.client.force_login(self.doctor)
        response = self.client.post(
            "/admin/grading/degree/export/", {"format": "0", "resource": "0", **_export_fields()}
        )
        self.assertEqual(response.status_code, 200)
        body = response.content.decode()
        self.assertIn("mine-1", body)
        self.assertNotIn("theirs-1", body)

    def test_the_add_form_refuses_a_degree_for_someone_who_is_not_a_student(self) -> None:
        self.client.force_login(self.doctor)
        form = {
            "exam": self.exam.pk,
            "marks_obtained": "4",
            "marks_available": "5",
        }
        refused = self.client.post("/admin/grading/degree/add/", {**form, "student": self.other.pk})
        self.assertEqual(refused.status_code, 200)  # the form again, with its error
        self.assertFalse(Degree.objects.filter(student=self.other).exists())
        student = make_student(number="mine-3")
        added = self.client.post("/admin/grading/degree/add/", {**form, "student": student.pk})
        self.assertEqual(added.status_code, 302)
        self.assertEqual(Degree.objects.get(student=student).source, Degree.Source.MANUAL)

    def test_the_import_page_takes_a_csv_into_a_paper_exam(self) -> None:
        self.client.force_login(self.doctor)
        csv_file = SimpleUploadedFile(
            "d.csv",
            f"exam,student_number,full_name,marks_obtained,marks_available\n{self.exam.code},mine-2,Di,4,5\n".encode(),
        )
        page = self.client.post(
            "/admin/grading/degree/import/", {"import_file": csv_file, "format": "0", "resource": "0"}
        )
        self.assertEqual(page.status_code, 200)
        self.assertContains(page, "mine-2")


class DegreeImportExportSafetyTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()
        cls.exam = make_exam(owner=cls.doctor, kind=Exam.Kind.PAPER, questions=[])
        Degree.objects.create(
            exam=cls.exam,
            student=make_student(number="F-1", full_name="@SUM(1+1)*cmd|' /C calc'!A0"),
            marks_obtained=2,
            marks_available=3,
            source="markr",
            graded_at=timezone.now(),
        )

    def setUp(self) -> None:
        self.client.force_login(self.doctor)

    def export(self, file_format: str) -> bytes:
        response = self.client.post(
            "/admin/grading/degree/export/", {"format": file_format, "resource": "0", **_export_fields()}
        )
        self.assertEqual(response.status_code, 200)
        return response.content

    def test_the_csv_export_escapes_formulas_and_rounds_percentages(self) -> None:
        body = self.export("0").decode()
        self.assertIn("'@SUM(1+1)", body)
        self.assertIn(",66.67,", body)

    def test_the_xlsx_export_writes_text_cells(self) -> None:
        sheet = load_workbook(io.BytesIO(self.export("1"))).active
        names = [cell for cell in sheet["C"] if cell.value and str(cell.value).startswith("@")]
        self.assertEqual([(cell.value, cell.data_type) for cell in names], [("@SUM(1+1)*cmd|' /C calc'!A0", "s")])

    def test_the_file_between_preview_and_confirm_is_in_the_shared_store_and_a_second_confirm_is_harmless(
        self,
    ) -> None:
        csv_file = SimpleUploadedFile(
            "d.csv",
            f"exam,student_number,full_name,marks_obtained,marks_available\n{self.exam.code},F-2,Fa,1,2\n".encode(),
        )
        preview = self.client.post(
            "/admin/grading/degree/import/", {"import_file": csv_file, "format": "0", "resource": "0"}
        )
        confirm = dict(preview.context["confirm_form"].initial)  # what the page's "Confirm import" posts
        name = confirm["import_file_name"]
        self.assertTrue(default_storage.exists(f"django-import-export/{name}"))
        first = self.client.post("/admin/grading/degree/process_import/", confirm)
        self.assertEqual(first.status_code, 302)
        second = self.client.post("/admin/grading/degree/process_import/", confirm, follow=True)
        self.assertEqual(second.status_code, 200)
        self.assertContains(second, "already confirmed")
        self.assertEqual(Degree.objects.filter(exam=self.exam).count(), 2)


def _export_fields() -> dict[str, str]:
    names = [
        "exam",
        "student_number",
        "full_name",
        "marks_obtained",
        "marks_available",
        "percentage",
        "source",
        "graded_at",
    ]
    return {f"degreeresource_{name}": "on" for name in names}


class ExamAdminGradingTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor = make_doctor()
        cls.admin = make_admin()

    def test_the_exam_admin_is_the_grading_subclass(self) -> None:
        self.assertIsInstance(site._registry[Exam], GradingExamAdmin)

    def test_grade_now_queues_a_job_and_refuses_a_draft(self) -> None:
        exam = make_exam(owner=self.doctor)
        draft = make_exam(owner=self.doctor, status=Exam.Status.DRAFT)
        start(exam, make_student())
        self.client.force_login(self.doctor)
        response = self.client.post(
            "/admin/exams/exam/",
            {"action": "grade_now", "_selected_action": [exam.id, draft.id]},
            follow=True,
        )
        self.assertEqual(response.status_code, 200)
        job = Job.objects.get()
        self.assertEqual((job.kind, job.params, job.created_by), ("grade_exam", {"exam_id": exam.id}, self.doctor))
        self.assertContains(response, "draft exam cannot be graded")

    def test_the_exam_page_shows_a_histogram_of_its_degrees(self) -> None:
        exam = make_exam(owner=self.doctor)
        now = timezone.now()
        for obtained in (0, 5, 10, 10):
            Degree.objects.create(
                exam=exam,
                student=make_student(),
                marks_obtained=obtained,
                marks_available=10,
                source="online",
                graded_at=now,
            )
        self.client.force_login(self.admin)
        page = self.client.get(f"/admin/exams/exam/{exam.id}/change/")
        self.assertContains(page, 'id="grading-histogram"')
        self.assertContains(page, "<title>90-100%: 2</title>", html=False)
        self.assertContains(page, "<title>50-60%: 1</title>", html=False)
        self.assertContains(page, "4 graded")


class ExamDashboardTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor, cls.other = make_doctor(), make_doctor()

    def setUp(self) -> None:
        self.client.force_login(self.doctor)

    def test_the_exam_page_counts_attempts_started_running_active_and_finished(self) -> None:
        exam = make_exam(owner=self.doctor)
        now = timezone.now()
        active, idle, finished = make_student(), make_student(), make_student()
        for student in (active, idle, finished):
            start(exam, student)
        answer(exam, active, {0: {0}}, saved_at=now - timedelta(seconds=10))
        answer(exam, idle, {0: {1}}, saved_at=now - timedelta(minutes=3))
        Attempt.objects.filter(exam=exam, student=finished).update(finished_at=now)
        page = self.client.get(f"/admin/exams/exam/{exam.id}/change/")
        self.assertContains(page, '<dd id="attempts-started">3</dd>', html=True)
        self.assertContains(page, '<dd id="attempts-running">2</dd>', html=True)
        self.assertContains(page, '<dd id="attempts-active">1</dd>', html=True)
        self.assertContains(page, '<dd id="attempts-finished">1</dd>', html=True)
        self.assertContains(page, "Preview as a student")
        self.assertContains(page, f"?exam__id__exact={exam.id}")
        self.assertEqual(self.client.get(f"/admin/grading/degree/?exam__id__exact={exam.id}").status_code, 200)

    def test_an_admin_gets_a_link_to_the_exams_audit_record_and_a_doctor_does_not(self) -> None:
        exam = make_exam(owner=self.doctor)
        link = f"/admin/audit/auditrecord/?exam_id={exam.id}"
        self.assertNotContains(self.client.get(f"/admin/exams/exam/{exam.id}/change/"), link)
        self.client.force_login(make_admin())
        self.assertContains(self.client.get(f"/admin/exams/exam/{exam.id}/change/"), link)
        self.assertEqual(self.client.get(link).status_code, 200)

    def test_publish_close_and_release_go_through_the_exam_services(self) -> None:
        empty = make_exam(owner=self.doctor, status=Exam.Status.DRAFT, questions=[])
        response = self.client.post(f"/admin/exams/exam/{empty.id}/dashboard/publish/", follow=True)
        self.assertContains(response, "An online exam needs questions before it is published.")
        self.assertEqual(Exam.objects.get(pk=empty.pk).status, "draft")
        exam = make_exam(owner=self.doctor, status=Exam.Status.DRAFT)
        self.client.post(f"/admin/exams/exam/{exam.id}/dashboard/publish/")
        self.client.post(f"/admin/exams/exam/{exam.id}/dashboard/close/")
        self.client.post(f"/admin/exams/exam/{exam.id}/dashboard/release/")
        exam.refresh_from_db()
        self.assertEqual((exam.status, exam.results_released), ("closed", True))
        self.assertEqual(self.client.get(f"/admin/exams/exam/{exam.id}/dashboard/release/").status_code, 405)

    def test_grade_now_on_the_exam_page_queues_a_job(self) -> None:
        exam = make_exam(owner=self.doctor)
        with self.captureOnCommitCallbacks():
            self.client.post(f"/admin/exams/exam/{exam.id}/dashboard/grade/")
        self.assertEqual(Job.objects.get().params, {"exam_id": exam.id})

    def test_another_doctor_reaches_none_of_it(self) -> None:
        exam = make_exam(owner=self.doctor)
        self.client.force_login(self.other)
        for url in (
            f"/admin/exams/exam/{exam.id}/degrees.csv",
            f"/admin/exams/exam/{exam.id}/preview/",
        ):
            self.assertEqual(self.client.get(url).status_code, 404, url)
        self.assertEqual(self.client.post(f"/admin/exams/exam/{exam.id}/dashboard/release/").status_code, 404)
        self.assertFalse(Exam.objects.get(pk=exam.pk).results_released)

    def test_the_degree_downloads_escape_formulas(self) -> None:
        exam = make_exam(owner=self.doctor)
        student = make_student(full_name='=HYPERLINK("http://evil.example","x")')
        Degree.objects.create(
            exam=exam, student=student, marks_obtained=1, marks_available=3, source="online", graded_at=timezone.now()
        )
        body = self.client.get(f"/admin/exams/exam/{exam.id}/degrees.csv").content.decode()
        self.assertIn("'=HYPERLINK", body)
        workbook = load_workbook(io.BytesIO(self.client.get(f"/admin/exams/exam/{exam.id}/degrees.xlsx").content))
        cell = workbook.active["B2"]
        self.assertEqual((cell.value, cell.data_type), ('=HYPERLINK("http://evil.example","x")', "s"))

    def test_the_item_analysis_follows_moodle_and_counts_each_choice(self) -> None:
        # Question 1 (1 point, choice a correct), question 2 (1 point, choice b correct); four students.
        exam = make_exam(owner=self.doctor, questions=[(1, 3, {0}), (1, 2, {1})])
        picks = [({0: {0}, 1: {1}}, 2), ({0: {0}, 1: {0}}, 1), ({0: {1}, 1: {1}}, 1), ({0: {2}, 1: {0}}, 0)]
        now = timezone.now()
        for chosen, obtained in picks:
            student = make_student()
            start(exam, student)
            answer(exam, student, chosen)
            Degree.objects.create(
                exam=exam, student=student, marks_obtained=obtained, marks_available=2, source="online", graded_at=now
            )
        stats = exam_stats(exam=exam)
        first, second = stats["questions"]
        # Facility: 2 of 4 right = 50%. Scores on q1 [1,1,0,0] against the rest of the exam [1,0,1,0]: r = 0.
        self.assertEqual((first["facility_index"], second["facility_index"]), (50.0, 50.0))
        self.assertAlmostEqual(first["discrimination_index"], 0.0)
        self.assertEqual([c["picked"] for c in first["choices"]], [2, 1, 1])
        self.assertEqual([c["picked"] for c in second["choices"]], [2, 2])
        page = self.client.get(f"/admin/exams/exam/{exam.id}/change/")
        self.assertContains(page, 'id="exam-items"')
        self.assertContains(page, "<td>50.0%</td>", html=True)
        self.assertContains(page, '<meter min="0" max="2" value="1">1</meter>', html=True)


class AppealPageTests(TestCase):
    """The attempt's page in the admin: what a doctor reads and does when a student appeals."""

    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor, cls.other = make_doctor(), make_doctor()

    def setUp(self) -> None:
        self.exam = make_exam(owner=self.doctor, questions=[(1, 3, {0}), (1, 3, {1})])
        self.student = make_student()
        Exam.objects.filter(pk=self.exam.pk).update(level=self.student.level)
        start(self.exam, self.student)
        key = key_of(self.exam)
        for question, choice in ((0, 2), (0, 0), (1, 2)):  # the first save of question 0 is replaced
            answer_store().save(
                exam_id=self.exam.id,
                student_id=self.student.id,
                answers=[(key[question][0], [key[question][1][choice]])],
                saved_at=timezone.now(),
                origin=SaveOrigin(client_ip="192.0.2.7", user_agent="HallBrowser/1.0"),
            )
        student_grade(exam_id=self.exam.id, student_id=self.student.id)
        self.url = f"/admin/exams/exam/{self.exam.id}/attempts/{self.student.student_number}/"
        self.client.force_login(self.doctor)

    def test_the_exam_page_links_to_its_attempts_and_each_attempt_to_its_appeal_page(self) -> None:
        self.assertContains(self.client.get(f"/admin/exams/exam/{self.exam.id}/change/"), "Attempts and appeals")
        self.assertContains(self.client.get(f"/admin/exams/exam/{self.exam.id}/attempts/"), self.url)

    def test_it_shows_the_marks_per_question_and_every_acknowledged_save_with_where_it_came_from(self) -> None:
        page = self.client.get(self.url)
        self.assertContains(page, "1 of 2")
        self.assertContains(page, "192.0.2.7", count=3)
        self.assertContains(page, "HallBrowser/1.0", count=3)
        rows = page.content.decode().split('id="history"')[1]
        self.assertLess(rows.index("c2"), rows.index("c0"))  # in the order the server accepted them

    def test_an_override_with_a_reason_changes_the_degree_and_grading_leaves_it(self) -> None:
        self.client.post(self.url, {"action": "override", "marks_obtained": "2", "reason": "Scanner misread"})
        degree = Degree.objects.get(exam=self.exam, student=self.student)
        self.assertEqual(
            (degree.marks_obtained, degree.source, degree.override_reason), (2, "manual", "Scanner misread")
        )
        student_grade(exam_id=self.exam.id, student_id=self.student.id)
        self.assertEqual(Degree.objects.get(pk=degree.pk).marks_obtained, 2)
        self.client.post(self.url, {"action": "remove_override"})
        self.assertEqual(Degree.objects.get(pk=degree.pk).source, "online")

    def test_an_override_without_a_reason_or_above_the_marks_available_is_refused(self) -> None:
        for marks, reason in (("2", " "), ("3", "too generous")):
            response = self.client.post(
                self.url, {"action": "override", "marks_obtained": marks, "reason": reason}, follow=True
            )
            self.assertEqual(response.status_code, 200)
        self.assertEqual(Degree.objects.get(exam=self.exam, student=self.student).source, "online")

    def test_reopen_gives_the_attempt_more_minutes_with_a_reason(self) -> None:
        Attempt.objects.filter(exam=self.exam, student=self.student).update(finished_at=timezone.now())
        self.client.post(self.url, {"action": "reopen", "extra_minutes": "15", "reason": "Power cut in hall B"})
        attempt = Attempt.objects.get(exam=self.exam, student=self.student)
        self.assertIsNone(attempt.finished_at)
        self.assertGreater(attempt.reopened_until, timezone.now() + timedelta(minutes=14))

    def test_another_doctor_reaches_no_appeal_page(self) -> None:
        self.client.force_login(self.other)
        self.assertEqual(self.client.get(self.url).status_code, 404)
        self.assertEqual(
            self.client.post(self.url, {"action": "reopen", "extra_minutes": "5", "reason": "x"}).status_code, 404
        )


class AccommodationPageTests(TestCase):
    """The exam's accommodations in the admin, through the same services as the API."""

    @classmethod
    def setUpTestData(cls) -> None:
        cls.doctor, cls.other = make_doctor(), make_doctor()

    def setUp(self) -> None:
        now = timezone.now()
        self.exam = make_exam(
            owner=self.doctor, opens_at=now - timedelta(minutes=10), closes_at=now + timedelta(hours=2)
        )
        self.student = make_student()
        Exam.objects.filter(pk=self.exam.pk).update(level=self.student.level)
        self.exam.refresh_from_db()
        self.attempt = start(self.exam, self.student)
        self.url = f"/admin/exams/exam/{self.exam.id}/accommodations/"
        self.client.force_login(self.doctor)

    def set(self, **fields: str) -> object:
        return self.client.post(self.url, {"action": "set", **fields}, follow=True)

    def test_the_exam_page_links_to_its_accommodations(self) -> None:
        self.assertContains(self.client.get(f"/admin/exams/exam/{self.exam.id}/change/"), self.url)

    def test_setting_one_moves_the_running_attempts_deadline_at_once_and_is_audited(self) -> None:
        before = self.attempt.deadline
        page = self.set(student_number=self.student.student_number, extra_minutes="20", closes_at="")
        self.assertContains(page, f"Accommodation of {self.student.student_number} set.")
        self.assertContains(page, self.student.full_name)
        self.attempt.refresh_from_db()
        self.assertEqual(self.attempt.deadline, before + timedelta(minutes=20))
        record = AuditRecord.objects.get(exam_id=self.exam.id, action="accommodation.set")
        self.assertEqual(record.detail["extra_minutes"], 20)

    def test_removing_one_takes_the_extra_time_away(self) -> None:
        self.set(student_number=self.student.student_number, extra_minutes="20", closes_at="")
        page = self.client.post(
            self.url, {"action": "remove", "student_number": self.student.student_number}, follow=True
        )
        self.assertContains(page, "removed")
        self.assertFalse(Accommodation.objects.filter(exam=self.exam).exists())
        self.assertTrue(AuditRecord.objects.filter(exam_id=self.exam.id, action="accommodation.removed").exists())

    def test_a_refusal_is_an_error_message_not_a_server_error(self) -> None:
        outsider = make_student(level="Year 2")
        page = self.set(student_number=outsider.student_number, extra_minutes="20", closes_at="")
        self.assertContains(page, "in this exam&#x27;s level")
        page = self.set(student_number=self.student.student_number, extra_minutes="-5", closes_at="")
        self.assertContains(page, "Not set:")
        Exam.objects.filter(pk=self.exam.pk).update(results_released=True)
        page = self.set(student_number=self.student.student_number, extra_minutes="20", closes_at="")
        self.assertContains(page, "results of this exam are released")
        self.assertFalse(Accommodation.objects.filter(exam=self.exam).exists())

    def test_another_doctor_reaches_no_accommodations_page(self) -> None:
        self.client.force_login(self.other)
        self.assertEqual(self.client.get(self.url).status_code, 404)
        response = self.client.post(
            self.url, {"action": "set", "student_number": self.student.student_number, "extra_minutes": "20"}
        )
        self.assertEqual(response.status_code, 404)
        self.assertFalse(Accommodation.objects.filter(exam=self.exam).exists())
