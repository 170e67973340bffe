from django.apps import AppConfig


class ExamsConfig(AppConfig):
    name = "core.exams"
    label = "exams"

    def ready(self) -> None:
        from core.exams import receivers  # noqa: F401  (connects the cache invalidation receivers)
