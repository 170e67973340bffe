from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "core.accounts"
    label = "accounts"

    def ready(self) -> None:
        from core.accounts import receivers, schema  # noqa: F401  the API key scheme; sessions end on changes
