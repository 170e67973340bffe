from django.urls import path

from core.handins import apis

urlpatterns = [
    path("api/exams/<int:exam_id>/handins", apis.ExamHandInsApi.as_view(), name="exam-handins"),
    path("submissions/<str:upload_code>", apis.SubmissionApi.as_view(), name="submission"),
    path(
        "verifications/<str:verification_code>/download_url",
        apis.VerificationDownloadUrlApi.as_view(),
        name="verification-download-url",
    ),
    path("handins/files/<str:token>", apis.local_download_view, name="handins-local-download"),
]
