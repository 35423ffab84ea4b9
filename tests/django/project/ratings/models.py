"""A stand-in for a third-party app whose way back raises in Python: 0002's reverse code
refuses to run, so `migrate ratings 0001` fails in Django too."""
from django.db import models


class Rating(models.Model):
    stars = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True, default="")
    product = models.ForeignKey("catalog.Product", on_delete=models.SET_NULL, null=True)
