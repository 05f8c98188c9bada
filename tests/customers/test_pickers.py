"""Country and currency pickers: each option reads name first, sorted by name, so that a dropdown's own
type-ahead finds a country by the start of its name."""

from __future__ import annotations

import pytest
from django.test.html import Element, parse_html

from customers.tatum.reference import COUNTRY_CODES, CURRENCY_CODES, name_sort_key
from tests.customers.conftest import CUSTOMER_ID, customer_json, url
from tests.users import make_user

pytestmark = pytest.mark.django_db

CODE_SELECTS = ("accounting_currency", "customer_country", "provider_country")


def select_options(page: str, name: str) -> list[tuple[str, str]]:
    """The (value, text) of each option of the page's `<select name=...>`, in document order."""
    stack: list = [parse_html(page)]
    while stack:
        node = stack.pop()
        if not isinstance(node, Element):
            continue
        if node.name == "select" and dict(node.attributes).get("name") == name:
            return [
                (dict(option.attributes).get("value", ""), "".join(str(child) for child in option.children))
                for option in node.children
                if isinstance(option, Element) and option.name == "option"
            ]
        stack.extend(reversed(node.children))
    raise AssertionError(f"no <select name={name!r}> on the page")


def type_ahead(options: list[tuple[str, str]], typed: str) -> str | None:
    """The option a browser's type-ahead selects for `typed`: the first whose text starts with it."""
    return next((value for value, text in options if text.casefold().startswith(typed.casefold())), None)


def edit_page(support_client, tatum, **current) -> str:
    tatum.get(url(f"/v3/ledger/customer/{CUSTOMER_ID}"), json=customer_json(**current))
    return support_client.get(f"/customers/{CUSTOMER_ID}/edit/").content.decode()


def test_every_code_select_of_the_edit_form_lists_its_codes_name_first_sorted_by_name(support_client, tatum):
    page = edit_page(support_client, tatum)
    for name, codes in zip(CODE_SELECTS, (CURRENCY_CODES, COUNTRY_CODES, COUNTRY_CODES), strict=True):
        options = select_options(page, name)
        assert sorted(value for value, _ in options) == sorted(codes)
        texts = [text for _, text in options]
        assert texts == sorted(texts, key=name_sort_key), f"{name} is not sorted by name"
        assert all(text.endswith(f" ({value})") for value, text in options)
    assert ("DE", "Germany (DE)") in select_options(page, "customer_country")
    assert ("EUR", "Euro (EUR)") in select_options(page, "accounting_currency")


@pytest.mark.parametrize(("typed", "country"), [("Germ", "DE"), ("United K", "GB"), ("Czech", "CZ")])
def test_typing_the_start_of_a_country_name_lands_on_that_country(support_client, tatum, typed, country):
    options = select_options(edit_page(support_client, tatum), "customer_country")
    assert type_ahead(options, typed) == country


def test_names_sort_without_regard_to_accents_or_case(support_client, tatum):
    texts = [text for _, text in select_options(edit_page(support_client, tatum), "customer_country")]
    # Åland Islands among the A's, Côte d'Ivoire among the C's; not after Zimbabwe.
    assert texts.index("Afghanistan (AF)") < texts.index("Åland Islands (AX)") < texts.index("Albania (AL)")
    assert texts.index("Costa Rica (CR)") < texts.index("Côte d'Ivoire (CI)") < texts.index("Croatia (HR)")
    assert texts[-1] == "Zimbabwe (ZW)"


def test_a_code_outside_the_published_list_is_still_shown_by_name_and_kept(support_client, tatum):
    page = edit_page(support_client, tatum, accountingCurrency="ETH", customerCountry="XX")
    currencies = select_options(page, "accounting_currency")
    countries = select_options(page, "customer_country")
    assert currencies[0] == ("", "Ether (ETH): not in Tatum's published list, kept as it is")
    assert countries[0] == ("", "Unknown country (XX): not in Tatum's published list, kept as it is")
    # The rest still follows the names.
    assert [text for _, text in countries[1:]] == sorted(
        (text for _, text in countries[1:]), key=name_sort_key
    )


def test_an_unset_country_offers_a_blank_choice_first(support_client, tatum):
    options = select_options(edit_page(support_client, tatum, providerCountry=None), "provider_country")
    assert options[0] == ("", "(not set: choose a country)")
    assert type_ahead(options, "Germ") == "DE"


def test_the_export_forms_country_filter_reads_name_first_sorted_by_name(client):
    client.force_login(make_user("Manager"))
    options = select_options(client.get("/exports/").content.decode(), "customer_country")
    assert options[0] == ("", "Any country")
    texts = [text for _, text in options[1:]]
    assert texts == sorted(texts, key=name_sort_key)
    assert type_ahead(options, "Germ") == "DE" and type_ahead(options, "United K") == "GB"


def test_pages_name_codes_as_the_pickers_do(support_client, tatum):
    tatum.get(
        url("/v3/ledger/customer"), json=[customer_json(accountingCurrency="DOGE", providerCountry=None)]
    )
    page = support_client.get("/customers/live/").content.decode()
    # Cells name the code, with the whole label as the tooltip where a narrow column cuts it.
    assert '<span class="clip" title="Dogecoin (DOGE)">Dogecoin (DOGE)</span>' in page
    assert '<span class="clip" title="Germany (DE)">Germany (DE)</span>' in page
    assert '<span class="clip" title="Not set">Not set</span>' in page
    assert "DE: Germany" not in page
