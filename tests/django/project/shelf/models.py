from django.db import models


class Shelf(models.Model):
    name = models.CharField(max_length=100)
    book = models.ForeignKey("library.Book", on_delete=models.CASCADE, related_name="shelves")
    label = models.CharField(max_length=50, default="", db_index=True)
