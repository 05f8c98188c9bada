"""Users for tests, one per role, made the way an administrator would: by group membership."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission

from customers.roles import roles_sync

PASSWORD = "correct-horse-battery-staple"
ROLES = ("Support", "Compliance", "Manager")


def roles_ensure() -> None:
    """The role groups as the roles migration makes them.

    Transactional tests (the live server, the browser) flush the database afterwards, data-migration
    rows included, and the flush recreates permissions under new ids: set the groups up again.
    """
    roles_sync(Group, Permission)


def make_user(role: str | None, username: str | None = None):
    """A user in `role` (a group name), or a superuser for role "superuser", or no role for None."""
    User = get_user_model()
    name = username or (role or "norole").lower()
    if role == "superuser":
        return User.objects.create_superuser(name, f"{name}@example.com", PASSWORD)
    user = User.objects.create_user(name, f"{name}@example.com", PASSWORD)
    if role:
        roles_ensure()
        user.groups.add(Group.objects.get(name=role))
    return user
