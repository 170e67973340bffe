from django.apps import AppConfig


class AnswersConfig(AppConfig):
    name = "core.answers"
    label = "answers"

    def ready(self) -> None:
        from core.answers.store import answer_store
        from core.common import health

        health.register("answers", lambda: answer_store().ping())
