from django.db import migrations, models


def mark_counted(apps, schema_editor):
    Item = apps.get_model("stock", "Item")
    Item.objects.using(schema_editor.connection.alias).filter(quantity__gt=0).update(counted=True)


class Migration(migrations.Migration):
    """Code without reverse code: this step cannot be reverted."""

    dependencies = [("stock", "0004_code_not_null")]

    operations = [
        migrations.AddField(model_name="item", name="counted", field=models.BooleanField(default=False)),
        migrations.RunPython(mark_counted),
    ]
