from django.apps import AppConfig


class GradebookConfig(AppConfig):
    name = "core.gradebook"
    label = "gradebook"
