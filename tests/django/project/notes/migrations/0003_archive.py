from django.db import migrations, models


def archive_old_notes(apps, schema_editor):
    Note = apps.get_model("notes", "Note")
    Note.objects.using(schema_editor.connection.alias).filter(text="").update(archived=True)


class Migration(migrations.Migration):
    dependencies = [("notes", "0002_note_created_concurrently")]

    operations = [
        migrations.AddField(model_name="note", name="archived", field=models.BooleanField(default=False)),
        migrations.RunSQL(
            sql="CREATE VIEW notes_recent AS SELECT id, text FROM notes_note WHERE NOT archived; -- newest first",
            reverse_sql="DROP VIEW notes_recent;",
        ),
        # No reverse code: this step (and so every step it needs) cannot be reverted.
        migrations.RunPython(archive_old_notes),
    ]
