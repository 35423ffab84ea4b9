from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("notes", "0001_initial")]
    operations = [migrations.RunSQL("ALTER TABLE notes_draft ADD COLUMN broken no_such_type", migrations.RunSQL.noop)]
