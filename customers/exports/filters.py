"""Which customers an export keeps: Tatum cannot filter, so the export filters while it reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from customers.tatum import Customer
from customers.tatum.reference import country_label


@dataclass(frozen=True)
class ExportFilter:
    """Which customers go into the file. None means "any"."""

    active: bool | None = None
    enabled: bool | None = None
    customer_country: str | None = None
    compliance_gap: bool | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ExportFilter:
        data = data or {}
        return cls(
            active=data.get("active"),
            enabled=data.get("enabled"),
            customer_country=data.get("customer_country") or None,
            compliance_gap=data.get("compliance_gap"),
        )

    def to_json(self) -> dict[str, Any]:
        values = {
            "active": self.active,
            "enabled": self.enabled,
            "customer_country": self.customer_country,
            "compliance_gap": self.compliance_gap,
        }
        return {key: value for key, value in values.items() if value is not None}

    @property
    def is_empty(self) -> bool:
        return not self.to_json()

    def matches(self, customer: Customer) -> bool:
        return (
            (self.active is None or customer.active == self.active)
            and (self.enabled is None or customer.enabled == self.enabled)
            and (self.customer_country is None or customer.customer_country == self.customer_country)
            and (self.compliance_gap is None or customer.compliance_gap == self.compliance_gap)
        )

    def describe(self) -> str:
        """The filter in words, as in "active, disabled, customer country DE: Germany"."""
        parts = []
        if self.active is not None:
            parts.append("active" if self.active else "inactive")
        if self.enabled is not None:
            parts.append("enabled" if self.enabled else "disabled")
        if self.customer_country:
            parts.append(f"customer country {country_label(self.customer_country)}")
        if self.compliance_gap is not None:
            parts.append("missing a country" if self.compliance_gap else "both countries set")
        return ", ".join(parts) or "all customers"
