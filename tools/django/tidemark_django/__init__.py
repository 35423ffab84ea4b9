"""tidemark's Django bridge: `manage.py tidemark_export` writes the project's migrations
as a tidemark MigrationPlan (see docs/django.md)."""
