from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shelf", "0002_shelf_label")]

    operations = [
        migrations.AlterField(model_name="shelf", name="label", field=models.CharField(db_index=True, default="", max_length=50)),
    ]
