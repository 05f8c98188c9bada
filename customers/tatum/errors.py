"""The `TatumError` tree: every failure of a Tatum call, as one exception class per kind."""

from __future__ import annotations

from typing import Any


class TatumError(Exception):
    """Any failure of a Tatum call. `str()` is a readable sentence and never contains the API key."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: str = "",
        data: list[dict[str, Any]] | None = None,
        method: str = "",
        route: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_code = error_code
        self.data: list[dict[str, Any]] = data or []
        self.method = method
        self.route = route

    def __str__(self) -> str:
        details = [f"{self.method} {self.route}".strip()]
        if self.status is not None:
            details.append(f"HTTP {self.status}")
        if self.error_code:
            details.append(self.error_code)
        details = [part for part in details if part]
        return f"{self.message} ({', '.join(details)})" if details else self.message


class TatumInvalidInput(TatumError, ValueError):
    """An input broke the API contract, so nothing was sent. `field` names the input."""

    def __init__(self, message: str, *, field: str, method: str = "", route: str = "") -> None:
        super().__init__(message, method=method, route=route)
        self.field = field


class TatumValidationError(TatumError):
    """400: Tatum rejected the input; `data` holds one item per failed field."""

    @property
    def field_errors(self) -> dict[str, list[str]]:
        """Tatum's complaints by property (nested ones dotted: `customer.externalId`)."""
        errors: dict[str, list[str]] = {}
        _collect_field_errors(self.data, "", errors)
        return errors


class TatumAuthError(TatumError):
    """401: the API key is unknown, inactive or missing."""


class TatumNotFound(TatumError):
    """403 with a "does not exist" code: Tatum never answers 404 on ledger paths."""


class TatumRuleError(TatumError):
    """Any other 403: a business rule refused the operation (e.g. `customer.disabled`)."""


class TatumRateLimited(TatumError):
    """429: too many requests. `retry_after` is Tatum's hint in seconds, when it gave one."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class TatumServerError(TatumError):
    """5xx: Tatum failed."""


class TatumUnavailable(TatumError):
    """No answer, and the call is known to have had no effect (or was a read)."""


class TatumOutcomeUnknown(TatumUnavailable):
    """A write was sent but its answer never came: it may or may not have happened."""


class TatumProtocolError(TatumError):
    """The answer was not JSON, or not shaped as the contract says."""


def _collect_field_errors(items: list[Any], prefix: str, errors: dict[str, list[str]]) -> None:
    for item in items:
        if not isinstance(item, dict):
            continue
        name = f"{prefix}{item.get('property') or ''}"
        constraints = item.get("constraints")
        if isinstance(constraints, dict) and constraints:
            errors.setdefault(name, []).extend(str(text) for text in constraints.values())
        children = item.get("children")
        if isinstance(children, list) and children:
            _collect_field_errors(children, f"{name}.", errors)
        elif not constraints:
            errors.setdefault(name, []).append("is not valid")
