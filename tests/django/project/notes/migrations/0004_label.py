from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("notes", "0003_archive")]

    operations = [
        migrations.CreateModel(
            name="Label",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("text", models.CharField(max_length=40, unique=True)),
                ("notes", models.ManyToManyField(to="notes.Note")),
            ],
        ),
    ]
