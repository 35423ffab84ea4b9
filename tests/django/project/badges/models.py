"""A stand-in for a third-party app whose way back fails in Django too: 0002's reverse SQL
compares an integer with a varchar, so `migrate badges zero` stops there on PostgreSQL."""
from django.db import models


class Badge(models.Model):
    label = models.CharField(max_length=40)
    level = models.IntegerField(default=0)
    note = models.TextField(blank=True, default="")
