from django.db import migrations, models


class Migration(migrations.Migration):
    """Expand: the new column, nullable while it is back-filled."""

    dependencies = [("stock", "0001_initial")]

    operations = [
        migrations.AddField(model_name="item", name="code", field=models.CharField(max_length=120, null=True)),
    ]
