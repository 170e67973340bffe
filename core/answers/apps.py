from django.apps import AppConfig


class AnswersConfig(AppConfig):
    name = "core.answers"
    label = "answers"
