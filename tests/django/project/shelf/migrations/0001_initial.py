from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    initial = True

    dependencies = [("library", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="Shelf",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=100)),
                ("book", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="shelves", to="library.book")),
            ],
        ),
    ]
