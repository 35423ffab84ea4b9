from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [("notes", "0001_initial")]

    operations = [
        AddIndexConcurrently(model_name="note", index=models.Index(fields=["created"], name="notes_note_created_idx")),
    ]
