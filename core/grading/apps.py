from django.apps import AppConfig


class GradingConfig(AppConfig):
    name = "core.grading"
    label = "grading"
