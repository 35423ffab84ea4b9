import os
import time

from django.db import migrations


def fill_codes(apps, schema_editor):
    Item = apps.get_model("stock", "Item")
    items = list(Item.objects.using(schema_editor.connection.alias).filter(code__isnull=True))
    for item in items:
        item.code = "%s-%04d" % (item.name.upper(), item.quantity)
    Item.objects.using(schema_editor.connection.alias).bulk_update(items, ["code"], batch_size=1000)
    # The runner tests stop the runner here, after the writes and before the commit.
    time.sleep(float(os.environ.get("TIDEMARK_TEST_BACKFILL_PAUSE", "0")))


def clear_codes(apps, schema_editor):
    Item = apps.get_model("stock", "Item")
    Item.objects.using(schema_editor.connection.alias).update(code=None)


class Migration(migrations.Migration):
    """Back-fill: code computed by Python for every row."""

    dependencies = [("stock", "0002_item_code")]

    operations = [migrations.RunPython(fill_codes, clear_codes)]
