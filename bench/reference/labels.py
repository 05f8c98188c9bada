"""Template filters of the reference: codes shown with their names, as the dashboard shows them."""

import functools

import pycountry
from django import template

register = template.Library()


@register.filter
@functools.cache
def currency_label(code: str | None) -> str:
    if not code:
        return "Not set"
    currency = pycountry.currencies.get(alpha_3=code) if len(code) == 3 else None
    return f"{currency.name if currency else 'Unknown currency'} ({code})"


@register.filter
@functools.cache
def country_label(code: str | None) -> str:
    if not code:
        return "Not set"
    country = pycountry.countries.get(alpha_2=code) if len(code) == 2 else None
    name = (getattr(country, "common_name", None) or country.name) if country else "Unknown country"
    return f"{name} ({code})"
