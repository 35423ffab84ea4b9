from django.db import migrations


class Migration(migrations.Migration):
    # contenttypes renames the ContentType row in Python: tidemark marks this step python.
    dependencies = [("notes", "0004_label"), ("contenttypes", "0002_remove_content_type_name")]

    operations = [migrations.RenameModel(old_name="Label", new_name="Tag")]
