"""The permission backend: the same answers as Django's ModelBackend, in one query."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AnonymousUser, Group, Permission

from customers import permissions
from dashboard.auth_backends import ModelBackendOneQuery
from tests.users import ROLES, make_user

pytestmark = pytest.mark.django_db


def fresh(user: Any) -> Any:
    """The user as the next request loads it: no permissions cached on the object."""
    return get_user_model().objects.get(pk=user.pk)


def direct_and_group_user() -> Any:
    user = make_user("Support", "both")
    user.user_permissions.add(Permission.objects.get(codename="view_audit_log"))
    return user


def inactive_user() -> Any:
    user = make_user("Manager", "gone")
    user.is_active = False
    user.save()
    return user


USERS = {
    **{role: (lambda role=role: make_user(role)) for role in ROLES},
    "superuser": lambda: make_user("superuser"),
    "no role": lambda: make_user(None),
    "direct and group": direct_and_group_user,
    "inactive": inactive_user,
}


@pytest.mark.parametrize("make", USERS.values(), ids=USERS.keys())
def test_a_user_has_exactly_the_permissions_djangos_backend_gives(make: Any) -> None:
    user = make()
    assert ModelBackendOneQuery().get_all_permissions(fresh(user)) == ModelBackend().get_all_permissions(
        fresh(user)
    )


def test_the_set_is_not_empty_for_a_role_so_the_comparison_means_something() -> None:
    perms = ModelBackendOneQuery().get_all_permissions(fresh(direct_and_group_user()))
    assert permissions.VIEW_CUSTOMERS in perms and permissions.VIEW_AUDIT_LOG in perms


def test_anonymous_users_and_object_checks_have_no_permissions() -> None:
    backend = ModelBackendOneQuery()
    assert backend.get_all_permissions(AnonymousUser()) == set()
    assert backend.get_all_permissions(fresh(make_user("Support")), obj=object()) == set()


def test_every_check_of_a_request_costs_one_query(django_assert_num_queries: Any) -> None:
    user = fresh(direct_and_group_user())
    with django_assert_num_queries(1):
        assert user.has_perm(permissions.VIEW_CUSTOMERS)
        assert user.has_perm(permissions.CHANGE_CUSTOMER_STATE)
        assert user.has_perm(permissions.VIEW_AUDIT_LOG)
        assert not user.has_perm(permissions.EXPORT_CUSTOMERS)


def test_a_role_taken_away_is_gone_on_the_next_request() -> None:
    user = make_user("Support")
    assert fresh(user).has_perm(permissions.CHANGE_CUSTOMER_STATE)
    user.groups.remove(Group.objects.get(name="Support"))
    assert not fresh(user).has_perm(permissions.CHANGE_CUSTOMER_STATE)


# --- Loading the signed-in user -------------------------------------------------------------------


def field_values(user: Any) -> dict[str, Any]:
    return {field.attname: getattr(user, field.attname) for field in user._meta.concrete_fields}


@pytest.mark.parametrize("role", [*ROLES, "superuser", None])
def test_the_signed_in_user_is_loaded_with_every_field_as_djangos_backend_loads_it(role: str | None) -> None:
    user = make_user(role)
    loaded = ModelBackendOneQuery().get_user(user.pk)
    assert type(loaded) is type(user)
    assert field_values(loaded) == field_values(ModelBackend().get_user(user.pk))
    assert loaded._state.adding is False and loaded._state.db == "default"


def test_an_inactive_or_unknown_user_is_not_loaded() -> None:
    assert ModelBackendOneQuery().get_user(inactive_user().pk) is None
    assert ModelBackendOneQuery().get_user(987654) is None


def test_a_loaded_user_saves_as_an_update_of_its_row() -> None:
    user = make_user("Support")
    loaded = ModelBackendOneQuery().get_user(user.pk)
    loaded.first_name = "Renamed"
    loaded.save()
    assert get_user_model().objects.count() == 1
    assert fresh(user).first_name == "Renamed"


def test_loading_the_user_and_checking_every_permission_costs_two_queries(
    django_assert_num_queries: Any,
) -> None:
    pk = direct_and_group_user().pk
    with django_assert_num_queries(2):
        user = ModelBackendOneQuery().get_user(pk)
        assert user.has_perm(permissions.VIEW_CUSTOMERS)
        assert user.has_perm(permissions.VIEW_AUDIT_LOG)
        assert not user.has_perm(permissions.EXPORT_CUSTOMERS)
