from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    initial = True

    # shelf.0002 is replaced by shelf's squash: Django repoints this to the squash.
    dependencies = [("shelf", "0002_shelf_label"), ("flatpages", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="Note",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("text", models.TextField()),
                ("created", models.DateTimeField(auto_now_add=True)),
                ("shelf", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to="shelf.shelf")),
                ("page", models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, to="flatpages.flatpage")),
            ],
        ),
    ]
