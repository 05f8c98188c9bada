from django.urls import include, path

app_name = "customers"

urlpatterns = [
    path("", include("customers.screens.urls")),
    path("", include("customers.audit.urls")),
    path("", include("customers.exports.urls")),
    path("", include("customers.usage.urls")),
]
