from django.urls import include, path

app_name = "customers"

urlpatterns = [
    # Before the customer pages: their `customers/<id>/` patterns would take `customers/sync/`.
    path("", include("customers.index.urls")),
    path("", include("customers.screens.urls")),
    path("", include("customers.audit.urls")),
    path("", include("customers.exports.urls")),
    path("", include("customers.usage.urls")),
    path("", include("customers.compliance.urls")),
]
