from django.apps import AppConfig


class ExamsConfig(AppConfig):
    name = "core.exams"
    label = "exams"
