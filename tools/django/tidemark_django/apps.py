from django.apps import AppConfig


class TidemarkDjangoConfig(AppConfig):
    """Only makes the `tidemark_export` management command available; no models."""

    name = "tidemark_django"
    verbose_name = "tidemark"
