from django.apps import AppConfig


class ImportsConfig(AppConfig):
    """Background imports of grade, degree, Markr and student files (POST /api/imports, /imports/new): no models
    of its own; it writes through the jobs, accounts, grading and gradebook apps."""

    name = "core.imports"
    label = "imports"
