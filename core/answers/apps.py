from typing import Any

from django.apps import AppConfig
from django.core import checks


class AnswersConfig(AppConfig):
    name = "core.answers"
    label = "answers"

    def ready(self) -> None:
        from core.answers.store import answer_store
        from core.common import health

        health.register("answers", lambda: answer_store().ping())
        checks.register(_history_check, checks.Tags.compatibility)


def _history_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from django.conf import settings

    if getattr(settings, "ANSWER_HISTORY", True):
        return []
    return [
        checks.Warning(
            "ANSWER_HISTORY is off: saves are not kept in the save history, so appeals cannot be settled from it.",
            hint="Switch it off only to measure what the history costs; set ANSWER_HISTORY=true in service.",
            id="answers.W001",
        )
    ]
