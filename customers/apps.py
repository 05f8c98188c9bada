from django.apps import AppConfig
from django.core.signals import request_finished


class CustomersConfig(AppConfig):
    name = "customers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from customers.apicalls import api_calls_flush

        request_finished.connect(api_calls_flush, dispatch_uid="customers.api_calls_flush")
