from django.urls import path

from core.common.apis import HealthApi, MetricsApi, RootApi

urlpatterns = [
    path("", RootApi.as_view(), name="root"),
    path("health", HealthApi.as_view(), name="health"),
    path("metrics", MetricsApi.as_view(), name="metrics"),
]
