from django.db import migrations, models


def refuse_to_forget_comments(apps, schema_editor):
    raise RuntimeError("comments cannot be removed once written")


class Migration(migrations.Migration):
    dependencies = [("ratings", "0001_initial")]
    operations = [
        migrations.AddField(model_name="rating", name="comment", field=models.TextField(blank=True, default="")),
        migrations.RunPython(migrations.RunPython.noop, refuse_to_forget_comments),
    ]
