"""Tatum's paths, below the mount point `/sandbox/` (see dashboard/urls.py).

Like Tatum's own router, a trailing slash is optional. Ids may contain anything but an unescaped
slash; under `/v3/ledger/customer/` nothing answers 404: an unknown customer is a 403.
"""

from django.urls import re_path

from sandbox import views

app_name = "sandbox"

_ID = r"(?P<customer_id>.+?)"

urlpatterns = [
    re_path(r"^v3/ledger/customer/?$", views.customer_collection, name="customer-collection"),
    re_path(
        rf"^v3/ledger/customer/{_ID}/(?P<action>activate|deactivate|enable|disable)/?$",
        views.customer_state,
        name="customer-state",
    ),
    re_path(rf"^v3/ledger/customer/{_ID}/?$", views.customer_detail, name="customer-detail"),
    re_path(r"^v3/ledger/account/?$", views.account_collection, name="account-collection"),
    re_path(rf"^v3/ledger/account/customer/{_ID}/?$", views.customer_accounts, name="customer-accounts"),
    re_path(
        r"^v3/ledger/account/(?P<account_id>[^/]+)/(?P<action>activate|deactivate|freeze|unfreeze)/?$",
        views.account_state,
        name="account-state",
    ),
    re_path(r"^v3/tatum/version/?$", views.version, name="version"),
    re_path(r"^v3/tatum/usage/?$", views.usage, name="usage"),
    re_path(r"^(?P<rest>.*)$", views.route_not_found, name="route-not-found"),
]
