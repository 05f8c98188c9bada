# Account actions: four audited actions, and Support's permission to take them.

from django.contrib.auth.management import create_permissions
from django.db import migrations, models

CODENAME = "change_account_state"


def _permission(apps):
    # Permissions are normally created after all migrations; make sure this one exists now.
    app_config = apps.get_app_config("customers")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0)
    app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.get(content_type__app_label="customers", codename=CODENAME)


def add_to_support(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    group, _ = Group.objects.get_or_create(name="Support")
    group.permissions.add(_permission(apps))


def remove_from_support(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    group = Group.objects.filter(name="Support").first()
    if group is not None:
        group.permissions.remove(_permission(apps))


class Migration(migrations.Migration):

    dependencies = [
        ("customers", "0010_auditentry_customer_external_id_text"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="customeraccess",
            options={
                "default_permissions": (),
                "managed": False,
                "permissions": [
                    ("view_customers", "Can view Tatum customers"),
                    ("edit_customers", "Can edit Tatum customers"),
                    ("change_customer_state", "Can activate, deactivate, enable and disable Tatum customers"),
                    ("change_account_state", "Can activate, deactivate, freeze and unfreeze customers' accounts"),
                    ("export_customers", "Can export Tatum customers to CSV"),
                    ("view_audit_log", "Can view the whole audit log"),
                    ("export_audit_log", "Can export the audit log to CSV"),
                    ("view_credit_usage", "Can see Tatum credit usage"),
                ],
            },
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="action",
            field=models.CharField(
                choices=[
                    ("update", "Edit"),
                    ("activate", "Activate"),
                    ("deactivate", "Deactivate"),
                    ("enable", "Enable"),
                    ("disable", "Disable"),
                    ("export_customers", "Export customers"),
                    ("export_finished", "Export finished"),
                    ("download_export", "Download export"),
                    ("export_audit", "Export audit log"),
                    ("verify", "Verify outcome"),
                    ("account_activate", "Activate account"),
                    ("account_deactivate", "Deactivate account"),
                    ("account_freeze", "Freeze account"),
                    ("account_unfreeze", "Unfreeze account"),
                ],
                max_length=32,
            ),
        ),
        migrations.RunPython(add_to_support, remove_from_support),
    ]
