from django.db import migrations


class Migration(migrations.Migration):
    # Two leaves in one app: Django's "conflicting migrations".
    dependencies = [("notes", "0001_initial")]
    operations = [migrations.RunSQL("SELECT 1", migrations.RunSQL.noop)]
