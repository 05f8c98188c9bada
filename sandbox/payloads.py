"""The JSON objects the API returns, with Tatum's field names and order."""

from __future__ import annotations

from typing import Any

from sandbox.models import Account, Customer


def customer_payload(customer: Customer) -> dict[str, Any]:
    """A Customer; the optional fields are left out (not null) when they were never set."""
    payload: dict[str, Any] = {
        "externalId": customer.external_id,
        "id": customer.ledger_id,
        "enabled": customer.enabled,
        "active": customer.active,
    }
    optional = {
        "accountingCurrency": customer.accounting_currency,
        "customerCountry": customer.customer_country,
        "providerCountry": customer.provider_country,
    }
    payload.update({name: value for name, value in optional.items() if value})
    return payload


def account_payload(account: Account, customer_ledger_id: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": account.ledger_id,
        "active": account.active,
        "frozen": account.frozen,
        "currency": account.currency,
        "balance": {
            "accountBalance": account.account_balance,
            "availableBalance": account.available_balance,
        },
    }
    customer_id = customer_ledger_id or (account.customer.ledger_id if account.customer_id else "")
    if customer_id:
        payload["customerId"] = customer_id
    if account.account_code:
        payload["accountCode"] = account.account_code
    if account.account_number:
        payload["accountNumber"] = account.account_number
    payload["accountingCurrency"] = account.accounting_currency
    return payload
