from django.apps import AppConfig


class HandinsConfig(AppConfig):
    name = "core.handins"
    label = "handins"
