from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "core.accounts"
    label = "accounts"

    def ready(self) -> None:
        from core.accounts import schema  # noqa: F401  registers the API key scheme
