"""Typed values read from Tatum's JSON answers; each `from_json` refuses what the contract does not allow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from customers.tatum.errors import TatumProtocolError


def json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else type(value).__name__)


def _require_object(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise TatumProtocolError(f"Expected {what} as a JSON object but got {json_type(data)}.")
    return data


def _required_str(data: dict[str, Any], key: str, what: str, *, non_empty: bool = False) -> str:
    value = data.get(key)
    if not isinstance(value, str) or (non_empty and not value):
        found = "nothing" if key not in data else json_type(value)
        raise TatumProtocolError(f"Expected {what}.{key} to be a non-empty string but got {found}.")
    return value


def _optional_str(data: dict[str, Any], key: str, what: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise TatumProtocolError(f"Expected {what}.{key} to be a string but got {json_type(value)}.")
    return value


def _required_bool(data: dict[str, Any], key: str, what: str) -> bool:
    value = data.get(key)
    if not isinstance(value, bool):
        found = "nothing" if key not in data else json_type(value)
        raise TatumProtocolError(f"Expected {what}.{key} to be true or false but got {found}.")
    return value


def _optional_int(data: dict[str, Any], key: str, what: str) -> int | None:
    value = data.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise TatumProtocolError(f"Expected {what}.{key} to be a whole number but got {json_type(value)}.")
    return value


def _decimal(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TatumProtocolError(f"Expected {what} to be a decimal number but got {json_type(value)}.")
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise TatumProtocolError(f"Expected {what} to be a decimal number but got {value!r}.") from exc
    if not number.is_finite():
        raise TatumProtocolError(f"Expected {what} to be a finite number but got {value!r}.")
    return number


@dataclass(frozen=True)
class Customer:
    """A customer of the ledger, as Tatum holds it."""

    id: str
    external_id: str
    active: bool
    enabled: bool
    accounting_currency: str | None = None
    customer_country: str | None = None
    provider_country: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> Customer:
        """Read Tatum's Customer object; raises TatumProtocolError when it is not shaped as one."""
        body = _require_object(data, "a customer")
        return cls(
            id=_required_str(body, "id", "customer", non_empty=True),
            external_id=_required_str(body, "externalId", "customer"),
            active=_required_bool(body, "active", "customer"),
            enabled=_required_bool(body, "enabled", "customer"),
            accounting_currency=_optional_str(body, "accountingCurrency", "customer"),
            customer_country=_optional_str(body, "customerCountry", "customer"),
            provider_country=_optional_str(body, "providerCountry", "customer"),
        )

    @property
    def compliance_gap(self) -> bool:
        """Tatum's compliance engine needs both countries; a customer missing either is a gap."""
        return not self.customer_country or not self.provider_country

    def to_json(self) -> dict[str, Any]:
        """Tatum's field names; optional fields left out when unset."""
        values = {json_name: getattr(self, name) for name, json_name in CUSTOMER_JSON_NAMES.items()}
        return {key: value for key, value in values.items() if value is not None}


# A customer's attributes under Tatum's JSON names (which the audit trail uses too).
CUSTOMER_JSON_NAMES = {
    "id": "id",
    "external_id": "externalId",
    "active": "active",
    "enabled": "enabled",
    "accounting_currency": "accountingCurrency",
    "customer_country": "customerCountry",
    "provider_country": "providerCountry",
}


@dataclass(frozen=True)
class Balance:
    account_balance: Decimal
    available_balance: Decimal

    @classmethod
    def from_json(cls, data: Any) -> Balance:
        body = _require_object(data, "an account balance")
        return cls(
            account_balance=_decimal(body.get("accountBalance"), "balance.accountBalance"),
            available_balance=_decimal(body.get("availableBalance"), "balance.availableBalance"),
        )


@dataclass(frozen=True)
class Account:
    """A ledger account (balances are exact decimals)."""

    id: str
    active: bool
    frozen: bool
    currency: str
    balance: Balance
    customer_id: str | None = None
    account_code: str | None = None
    account_number: str | None = None
    accounting_currency: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> Account:
        """Read Tatum's Account object; raises TatumProtocolError when it is not shaped as one."""
        body = _require_object(data, "an account")
        return cls(
            id=_required_str(body, "id", "account", non_empty=True),
            active=_required_bool(body, "active", "account"),
            frozen=_required_bool(body, "frozen", "account"),
            currency=_required_str(body, "currency", "account", non_empty=True),
            balance=Balance.from_json(body.get("balance")),
            customer_id=_optional_str(body, "customerId", "account"),
            account_code=_optional_str(body, "accountCode", "account"),
            account_number=_optional_str(body, "accountNumber", "account"),
            accounting_currency=_optional_str(body, "accountingCurrency", "account"),
        )


@dataclass(frozen=True)
class PlanVersion:
    """What `/v3/tatum/version` says about the API key's plan."""

    version: str
    testnet: bool
    plan_name: str | None = None
    plan_code: str | None = None
    price: Decimal | None = None
    # Kept as Tatum sends it: the contract does not say whether it is a date string or a timestamp.
    expiration: str | int | None = None
    credit_limit: int | None = None
    usage: int | None = None
    rollover_day: int | None = None

    @classmethod
    def from_json(cls, data: Any) -> PlanVersion:
        body = _require_object(data, "the plan version")
        price = body.get("price")
        expiration = body.get("expiration")
        if expiration is not None and (isinstance(expiration, bool) or not isinstance(expiration, str | int)):
            raise TatumProtocolError(
                f"Expected version.expiration to be text or a number, got {expiration!r}."
            )
        return cls(
            version=_required_str(body, "version", "version"),
            testnet=_required_bool(body, "testnet", "version"),
            plan_name=_optional_str(body, "planName", "version"),
            plan_code=_optional_str(body, "planCode", "version"),
            price=None if price is None else _decimal(price, "version.price"),
            expiration=expiration,
            credit_limit=_optional_int(body, "creditLimit", "version"),
            usage=_optional_int(body, "usage", "version"),
            rollover_day=_optional_int(body, "rolloverDay", "version"),
        )


@dataclass(frozen=True)
class UsageDay:
    """Credits used on one day."""

    day: date
    usage: int

    @classmethod
    def from_json(cls, data: Any) -> UsageDay:
        body = _require_object(data, "a usage day")
        text = _required_str(body, "day", "usage")
        try:
            day = datetime.strptime(text, "%m/%d/%Y").date()
        except ValueError as exc:
            raise TatumProtocolError(f"Expected usage.day as MM/DD/YYYY but got {text!r}.") from exc
        usage = _optional_int(body, "usage", "usage")
        if usage is None:
            raise TatumProtocolError("Expected usage.usage to be a whole number but got nothing.")
        return cls(day=day, usage=usage)


@dataclass(frozen=True)
class CallRecord:
    """One attempt at a Tatum call, as reported to the `on_call` hook. Never holds an id or the key."""

    method: str
    route: str
    status: int | None
    duration_ms: int
    credits: int
    error_code: str
