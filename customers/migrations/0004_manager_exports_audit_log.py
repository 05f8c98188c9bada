"""Managers may export the audit log as CSV (as Compliance may): add the permission to their group."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CODENAME = "export_audit_log"


def _permission(apps):
    # Permissions are normally created after all migrations; make sure this one exists now.
    app_config = apps.get_app_config("customers")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0)
    app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.get(content_type__app_label="customers", codename=CODENAME)


def add_to_manager(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    group, _ = Group.objects.get_or_create(name="Manager")
    group.permissions.add(_permission(apps))


def remove_from_manager(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    group = Group.objects.filter(name="Manager").first()
    if group is not None:
        group.permissions.remove(_permission(apps))


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0003_auditentry_verify_action"),
    ]

    operations = [migrations.RunPython(add_to_manager, remove_from_manager)]
