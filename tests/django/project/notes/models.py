from django.db import models


class Note(models.Model):
    text = models.TextField()
    shelf = models.ForeignKey("shelf.Shelf", on_delete=models.CASCADE)
    page = models.ForeignKey("flatpages.FlatPage", on_delete=models.SET_NULL, null=True)
    created = models.DateTimeField(auto_now_add=True)
    archived = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["created"], name="notes_note_created_idx")]


class Tag(models.Model):
    text = models.CharField(max_length=40, unique=True)
    notes = models.ManyToManyField(Note)
