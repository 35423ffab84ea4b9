from django.db import migrations


class Migration(migrations.Migration):
    # contenttypes renames the ContentType row in Python: tidemark marks this step python.
    # The convention some large projects already follow for contract steps.
    is_post_deployment = True
    dependencies = [("notes", "0004_label"), ("contenttypes", "0002_remove_content_type_name")]

    operations = [migrations.RenameModel(old_name="Label", new_name="Tag")]
