from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "core.common"
    label = "common"

    def ready(self) -> None:
        from core.common import errors

        errors.connect_error_log()
