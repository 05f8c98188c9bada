from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from customers.models import CreditTally
from dashboard.db import counter_add, counter_value, instance_by_pk
from sandbox.models import CreditUsage

pytestmark = pytest.mark.django_db

DAY = datetime.date(2026, 3, 1)


def test_counter_add_creates_the_row_then_adds_to_it() -> None:
    counter_add(CreditUsage, keys={"key_digest": "a" * 64, "day": DAY}, field="credits", amount=2)
    counter_add(CreditUsage, keys={"key_digest": "a" * 64, "day": DAY}, field="credits", amount=5)

    assert list(CreditUsage.objects.values_list("key_digest", "day", "credits")) == [("a" * 64, DAY, 7)]


def test_counter_add_keeps_one_row_per_key() -> None:
    counter_add(CreditUsage, keys={"key_digest": "a" * 64, "day": DAY}, field="credits", amount=1)
    counter_add(CreditUsage, keys={"key_digest": "b" * 64, "day": DAY}, field="credits", amount=2)
    counter_add(
        CreditUsage,
        keys={"key_digest": "a" * 64, "day": DAY + datetime.timedelta(days=1)},
        field="credits",
        amount=3,
    )

    assert sorted(CreditUsage.objects.values_list("key_digest", "day", "credits")) == [
        ("a" * 64, DAY, 1),
        ("a" * 64, DAY + datetime.timedelta(days=1), 3),
        ("b" * 64, DAY, 2),
    ]


def test_counter_add_takes_a_foreign_key_by_its_id() -> None:
    user = get_user_model().objects.create_user("carol", "carol@example.com", "pw-carol-123")
    counter_add(CreditTally, keys={"user": user.pk, "day": DAY}, field="credits", amount=4)
    counter_add(CreditTally, keys={"user": user.pk, "day": DAY}, field="credits", amount=1)

    assert CreditTally.objects.get(user=user, day=DAY).credits == 5


def test_counter_value_reads_the_row_the_keys_name_or_zero() -> None:
    user = get_user_model().objects.create_user("dave", "dave@example.com", "pw-dave-123")
    counter_add(CreditTally, keys={"user": user.pk, "day": DAY}, field="credits", amount=6)
    counter_add(
        CreditTally,
        keys={"user": user.pk, "day": DAY + datetime.timedelta(days=1)},
        field="credits",
        amount=1,
    )

    assert counter_value(CreditTally, keys={"user": user.pk, "day": DAY}, field="credits") == 6
    assert (
        counter_value(
            CreditTally, keys={"user": user.pk, "day": DAY - datetime.timedelta(days=1)}, field="credits"
        )
        == 0
    )
    assert counter_value(CreditTally, keys={"user": user.pk + 1, "day": DAY}, field="credits") == 0


def field_values(instance: Any) -> dict[str, Any]:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


def test_instance_by_pk_reads_every_field_as_the_orm_does() -> None:
    from sandbox.models import FaultPlan

    FaultPlan.objects.create(pk=1, rate=0.25, kinds="500,timeout", next_count=3, timeout_seconds=None)
    loaded = instance_by_pk(FaultPlan, 1)
    assert field_values(loaded) == field_values(FaultPlan.objects.get(pk=1))
    assert loaded.updated_at.tzinfo is not None  # converted to an aware datetime, as the ORM does
    assert loaded._state.adding is False


def test_instance_by_pk_is_none_for_a_missing_row() -> None:
    from sandbox.models import FaultPlan

    assert instance_by_pk(FaultPlan, 1) is None
    assert instance_by_pk(get_user_model(), 424242) is None
