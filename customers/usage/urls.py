from django.urls import path

from customers.usage import views

urlpatterns = [
    path("credits/", views.credit_usage, name="credit_usage"),
    path("credits/export/", views.credit_usage_export, name="credit_usage_export"),
]
