from django.urls import path

from core.exams import apis, audit_apis

urlpatterns = [
    path("api/exams", apis.ExamsApi.as_view(), name="exams"),
    path("api/exams/<int:exam_id>", apis.ExamDetailApi.as_view(), name="exam-detail"),
    path("api/exams/<int:exam_id>/attempt", apis.AttemptStartApi.as_view(), name="exam-attempt"),
    path("api/exams/<int:exam_id>/answers", apis.AnswersApi.as_view(), name="exam-answers"),
    path("api/exams/<int:exam_id>/finish", apis.FinishApi.as_view(), name="exam-finish"),
    path("api/audit", audit_apis.AuditApi.as_view(), name="audit"),
]
