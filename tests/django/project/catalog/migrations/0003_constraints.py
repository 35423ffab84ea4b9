from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_renames")]
    # Each drop below makes Django look the name up in the catalogue first.
    operations = [
        migrations.AlterUniqueTogether(name="product", unique_together=set()),
        migrations.AlterIndexTogether(name="product", index_together=set()),
        migrations.AlterField(model_name="product", name="sku", field=models.CharField(max_length=20)),
        migrations.AlterField(model_name="product", name="position", field=models.IntegerField()),
        migrations.AlterField(model_name="product", name="kind",
                              field=models.ForeignKey(null=True, on_delete=models.CASCADE, to="catalog.kind")),
    ]
