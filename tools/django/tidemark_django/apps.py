from django.apps import AppConfig


class TidemarkDjangoConfig(AppConfig):
    """Makes the `tidemark_export` and `tidemark_step` management commands available; no models."""

    name = "tidemark_django"
    verbose_name = "tidemark"
