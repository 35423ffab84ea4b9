from django.apps import AppConfig
from django.db.models.signals import post_migrate


def create_keepers_group(sender, using, apps, **kwargs):
    """A post_migrate handler as projects write them: a group holding stock's permissions
    (auth's handler, connected earlier, has created them by now)."""
    if sender.label != "stock":
        return
    try:
        Group = apps.get_model("auth", "Group")
        Permission = apps.get_model("auth", "Permission")
    except LookupError:  # auth is not migrated yet (as Django's own handlers check)
        return
    group, _ = Group.objects.using(using).get_or_create(name="stock keepers")
    group.permissions.set(Permission.objects.using(using).filter(content_type__app_label="stock"))


class StockConfig(AppConfig):
    name = "stock"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        post_migrate.connect(create_keepers_group, dispatch_uid="stock.create_keepers_group")
