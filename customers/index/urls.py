"""The index sync page's URL patterns (mounted by customers.urls, before the customer pages' catch-alls)."""

from django.urls import path

from customers.index import views

urlpatterns = [
    path("customers/sync/", views.sync_page, name="sync"),
    path("customers/sync/start/", views.sync_start_view, name="sync_start"),
    path("customers/sync/<int:run_id>/cancel/", views.sync_cancel_view, name="sync_cancel"),
]
