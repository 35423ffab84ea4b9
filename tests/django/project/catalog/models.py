"""Renames followed by changes that make Django look names up in the catalogue: a model and
two fields renamed (0002), then unique_together, index_together, a field's unique, db_index
and check constraint, and a foreign key changed (0003)."""
from django.db import models


class Kind(models.Model):
    id = models.AutoField(primary_key=True)
    label = models.CharField(max_length=40)


class Product(models.Model):
    id = models.AutoField(primary_key=True)
    sku = models.CharField(max_length=20)
    name = models.CharField(max_length=50)
    position = models.IntegerField()
    kind = models.ForeignKey(Kind, on_delete=models.CASCADE, null=True)
