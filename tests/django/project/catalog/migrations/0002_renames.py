from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]
    # Django renames the table and columns but keeps the constraint and index names.
    operations = [
        migrations.RenameModel("Item", "Product"),
        migrations.RenameField("product", "code", "sku"),
        migrations.RenameField("product", "rank", "position"),
    ]
