from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(name="Kind", fields=[
            ("id", models.AutoField(primary_key=True, serialize=False)),
            ("label", models.CharField(max_length=40)),
        ]),
        migrations.CreateModel(name="Item", fields=[
            ("id", models.AutoField(primary_key=True, serialize=False)),
            ("code", models.CharField(max_length=20, unique=True)),
            ("name", models.CharField(max_length=50)),
            ("rank", models.PositiveIntegerField(db_index=True)),
            ("kind", models.ForeignKey(on_delete=models.CASCADE, to="catalog.kind")),
        ], options={
            "unique_together": {("name", "kind")},
            "index_together": {("name", "rank")},
        }),
    ]
