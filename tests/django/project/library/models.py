from django.conf import settings
from django.db import models


class Author(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    name = models.CharField(max_length=100)


class Book(models.Model):
    title = models.CharField(max_length=300)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    site = models.ForeignKey("sites.Site", on_delete=models.PROTECT)
    isbn = models.CharField(max_length=13, unique=True, null=True)
    slug = models.SlugField(default="")
    pages = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["title"], name="library_book_title_idx")]
        constraints = [models.CheckConstraint(check=models.Q(pages__lt=100000), name="library_book_pages_sane")]
