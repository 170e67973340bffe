from django.urls import path

from core.grading import apis

urlpatterns = [
    path("api/exams/<int:exam_id>/grade", apis.ExamGradeApi.as_view(), name="exam-grade"),
    path("api/exams/<int:exam_id>/result", apis.ExamResultApi.as_view(), name="exam-result"),
    path("api/exams/<int:exam_id>/degrees", apis.ExamDegreesApi.as_view(), name="exam-degrees"),
    path("api/exams/<int:exam_id>/stats", apis.ExamStatsApi.as_view(), name="exam-stats"),
]
