from django.db import migrations, models
from django.utils.text import slugify


def fill_slugs(apps, schema_editor):
    Book = apps.get_model("library", "Book")
    for book in Book.objects.using(schema_editor.connection.alias).all():
        book.slug = slugify(book.title)[:50]
        book.save(update_fields=["slug"])


class Migration(migrations.Migration):
    dependencies = [("library", "0002_book_isbn")]

    operations = [
        migrations.AddField(model_name="book", name="slug", field=models.SlugField(default="")),
        migrations.RunPython(fill_slugs, migrations.RunPython.noop),
    ]
