from django.apps import AppConfig


class SiteConfig(AppConfig):
    name = "core.site"
    label = "site"
    verbose_name = "Student site"
