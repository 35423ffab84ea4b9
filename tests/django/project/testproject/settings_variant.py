"""The test project with notes' migrations taken from tests/django/project/variants/<NAME>
(TIDEMARK_TEST_NOTES_MIGRATIONS=NAME): broken histories the exporter must refuse."""
import os

from .settings import *  # noqa: F401,F403

MIGRATION_MODULES = {"notes": "variants.%s" % os.environ["TIDEMARK_TEST_NOTES_MIGRATIONS"]}
