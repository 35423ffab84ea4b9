from django.db import migrations, models


class Migration(migrations.Migration):
    # tidemark's own marker: this step waits for the app's rollout.
    tidemark_phase = "PostDeploy"
    dependencies = [("library", "0003_book_slug")]

    operations = [
        migrations.AlterField(model_name="book", name="title", field=models.CharField(max_length=300)),
        migrations.AddField(model_name="book", name="pages", field=models.PositiveIntegerField(default=0)),
        migrations.AddConstraint(
            model_name="book",
            constraint=models.CheckConstraint(check=models.Q(pages__lt=100000), name="library_book_pages_sane"),
        ),
        # Reversible with no SQL either way: not code to carry.
        migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop),
    ]
