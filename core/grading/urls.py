from django.urls import path

from core.grading import apis

urlpatterns = [
    path("api/exams/<int:exam_id>/grade", apis.ExamGradeApi.as_view(), name="exam-grade"),
    path("api/exams/<int:exam_id>/result", apis.ExamResultApi.as_view(), name="exam-result"),
    path("api/exams/<int:exam_id>/degrees", apis.ExamDegreesApi.as_view(), name="exam-degrees"),
    path("api/exams/<int:exam_id>/stats", apis.ExamStatsApi.as_view(), name="exam-stats"),
    path("api/exams/<int:exam_id>/review", apis.ExamReviewApi.as_view(), name="exam-review"),
    path(
        "api/exams/<int:exam_id>/degrees/<str:student_number>",
        apis.DegreeOverrideApi.as_view(),
        name="exam-degree-override",
    ),
    path(
        "api/exams/<int:exam_id>/degrees/<str:student_number>/override",
        apis.DegreeOverrideRemoveApi.as_view(),
        name="exam-degree-override-remove",
    ),
]
