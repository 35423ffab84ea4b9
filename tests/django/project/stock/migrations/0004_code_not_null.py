from django.db import migrations, models


class Migration(migrations.Migration):
    """Contract: every row has a code now."""

    dependencies = [("stock", "0003_fill_code")]

    operations = [
        migrations.AlterField(model_name="item", name="code", field=models.CharField(max_length=120)),
    ]
