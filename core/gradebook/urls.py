from django.urls import path

from core.gradebook import apis

urlpatterns = [
    path("grades/submit", apis.GradeSubmitApi.as_view(), name="grades-submit"),
    path("grades/subject/<path:subject>", apis.SubjectGradesApi.as_view(), name="grades-subject"),
    path("grades/student/<str:student_id>", apis.StudentGradesApi.as_view(), name="grades-student"),
    path("import", apis.MarkrImportApi.as_view(), name="markr-import"),
    path("results", apis.MarkrResultsApi.as_view(), name="markr-results"),
    path("results/<str:test_id>/aggregate", apis.TestAggregateApi.as_view(), name="markr-aggregate"),
]
