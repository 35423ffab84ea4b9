from django.db import models


class Item(models.Model):
    name = models.CharField(max_length=100)
    quantity = models.IntegerField(default=0)
    code = models.CharField(max_length=120)
    counted = models.BooleanField(default=False)
