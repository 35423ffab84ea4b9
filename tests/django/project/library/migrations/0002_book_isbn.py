from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("library", "0001_initial")]

    operations = [
        migrations.AddField(model_name="book", name="isbn", field=models.CharField(max_length=13, null=True, unique=True)),
        migrations.AddIndex(model_name="book", index=models.Index(fields=["title"], name="library_book_title_idx")),
    ]
