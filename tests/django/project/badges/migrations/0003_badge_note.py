from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("badges", "0002_level_backfill")]
    operations = [
        migrations.AddField(model_name="badge", name="note", field=models.TextField(blank=True, default="")),
    ]
