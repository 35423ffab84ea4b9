"""Settings of the test project: Django's contrib apps and small apps of our own.

The database comes from DATABASE_URL, a libpq connection string (key=value or URI).
"""
import os

from psycopg2.extensions import parse_dsn

_dsn = parse_dsn(os.environ["DATABASE_URL"])

SECRET_KEY = "tidemark-test-only"
DEBUG = False
USE_TZ = True
ROOT_URLCONF = "testproject.urls"
SITE_ID = 1
# What startproject writes since Django 3.2. Django gives django_migrations.id this type
# too (bigserial); the exporter writes it as spec.ledger.idType: bigint.
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _dsn.get("dbname", ""),
        "USER": _dsn.get("user", ""),
        "PASSWORD": _dsn.get("password", ""),
        "HOST": _dsn.get("host", ""),
        "PORT": _dsn.get("port", ""),
    }
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.sites",
    "django.contrib.flatpages",
    "django.contrib.redirects",
    "django.contrib.postgres",
    "library",
    "shelf",
    "notes",
    "badges",
    "ratings",
    "catalog",
    "tidemark_django",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
