from django.db import migrations, models


class Migration(migrations.Migration):
    # Reverting catalog to 0001 (`migrate catalog 0001_initial`) reverts this step first.
    dependencies = [("ratings", "0002_rating_comment"), ("catalog", "0002_renames")]
    operations = [
        migrations.AddField(model_name="rating", name="product", field=models.ForeignKey(
            null=True, on_delete=models.SET_NULL, to="catalog.product")),
    ]
