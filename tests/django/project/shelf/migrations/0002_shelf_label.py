from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shelf", "0001_initial")]

    operations = [
        migrations.AddField(model_name="shelf", name="label", field=models.CharField(default="", max_length=20)),
    ]
