from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    replaces = [("shelf", "0001_initial"), ("shelf", "0002_shelf_label"), ("shelf", "0003_alter_shelf_label")]

    initial = True

    dependencies = [("library", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="Shelf",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=100)),
                ("book", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="shelves", to="library.book")),
                ("label", models.CharField(db_index=True, default="", max_length=50)),
            ],
        ),
    ]
