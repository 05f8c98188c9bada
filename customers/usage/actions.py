"""What someone was doing when the dashboard called Tatum, read from the call's method and route
template (the routes of `customers.tatum.client`), in words a manager reads."""

from __future__ import annotations

EXPORT = "Export"
LIST_CUSTOMERS = "List customers"
READ_CUSTOMER = "Read customer"
EDIT_CUSTOMER = "Edit customer"
CHANGE_STATE = "Change state"
READ_ACCOUNTS = "Read accounts"
ACCOUNT_ACTIONS = "Account actions"
CHECK_TATUM = "Check Tatum (plan, usage)"

_CUSTOMERS = "/v3/ledger/customer"
_CUSTOMER = "/v3/ledger/customer/{id}"
_ACCOUNTS = "/v3/ledger/account"

_EXACT: dict[tuple[str, str], str] = {
    ("GET", _CUSTOMERS): LIST_CUSTOMERS,
    ("GET", _CUSTOMER): READ_CUSTOMER,
    ("PUT", _CUSTOMER): EDIT_CUSTOMER,
    ("GET", f"{_ACCOUNTS}/customer/{{id}}"): READ_ACCOUNTS,
}


def call_action(method: str, route: str, *, for_export: bool = False) -> str:
    """The action a call served; a call this list does not know is named by its method and route."""
    if for_export:
        return EXPORT
    if (method, route) in _EXACT:
        return _EXACT[method, route]
    if method == "PUT" and route.startswith(f"{_CUSTOMER}/"):
        return CHANGE_STATE  # activate, deactivate, enable, disable
    if method != "GET" and (route == _ACCOUNTS or route.startswith(f"{_ACCOUNTS}/")):
        return ACCOUNT_ACTIONS  # open an account; activate, deactivate, freeze, unfreeze one
    if method == "GET" and route.startswith("/v3/tatum/"):
        return CHECK_TATUM
    return f"Other: {method} {route}"
