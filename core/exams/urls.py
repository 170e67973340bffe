from django.urls import path

from core.exams import apis, audit_apis, office_apis

urlpatterns = [
    path("api/exams", apis.ExamsApi.as_view(), name="exams"),
    path("api/exams/<int:exam_id>", apis.ExamDetailApi.as_view(), name="exam-detail"),
    path("api/exams/<int:exam_id>/attempt", apis.AttemptStartApi.as_view(), name="exam-attempt"),
    path("api/exams/<int:exam_id>/answers", apis.AnswersApi.as_view(), name="exam-answers"),
    path("api/exams/<int:exam_id>/finish", apis.FinishApi.as_view(), name="exam-finish"),
    path("api/audit", audit_apis.AuditApi.as_view(), name="audit"),
    path("api/exams/<int:exam_id>/accommodations", office_apis.AccommodationsApi.as_view(), name="exam-accommodations"),
    path(
        "api/exams/<int:exam_id>/accommodations/<str:student_number>",
        office_apis.AccommodationApi.as_view(),
        name="exam-accommodation",
    ),
    path("api/exams/<int:exam_id>/attempts", office_apis.AttemptsApi.as_view(), name="exam-attempts"),
    path(
        "api/exams/<int:exam_id>/attempts/<str:student_number>/history",
        office_apis.AttemptHistoryApi.as_view(),
        name="exam-attempt-history",
    ),
    path(
        "api/exams/<int:exam_id>/attempts/<str:student_number>/reopen",
        office_apis.AttemptReopenApi.as_view(),
        name="exam-attempt-reopen",
    ),
]
