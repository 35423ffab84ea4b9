from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("badges", "0001_initial")]
    operations = [
        # The reverse compares integer with varchar: PostgreSQL refuses it (42883), as it
        # refuses it to `manage.py migrate badges 0001`.
        migrations.RunSQL(
            "UPDATE badges_badge SET level = 1 WHERE level = 0",
            "UPDATE badges_badge SET level = 0 WHERE level = '1'::varchar",
        ),
    ]
