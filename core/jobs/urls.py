from django.urls import path

from core.jobs import apis

urlpatterns = [
    path("api/jobs", apis.JobsApi.as_view(), name="jobs"),
    path("api/jobs/<int:job_id>", apis.JobDetailApi.as_view(), name="job-detail"),
]
