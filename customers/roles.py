"""The role groups and their permissions, kept in step with `customers.permissions.ROLE_PERMISSIONS`."""

from __future__ import annotations

from typing import Any

from customers.permissions import ROLE_PERMISSIONS


def roles_sync(group_model: Any, permission_model: Any) -> None:
    """Create each role group (if missing) and give it exactly its permissions.

    Takes the models as arguments so a data migration can pass its historical ones.
    """
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        permissions = permission_model.objects.filter(
            content_type__app_label="customers", codename__in=codenames
        )
        group.permissions.set(permissions)
