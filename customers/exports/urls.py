"""The export pages' URL patterns (mounted by customers.urls)."""

from django.urls import path

from customers.exports import views

urlpatterns = [
    path("exports/", views.export_list, name="export_list"),
    path("exports/new/", views.export_create, name="export_create"),
    path("exports/<int:job_id>/", views.export_detail, name="export_detail"),
    path("exports/<int:job_id>/cancel/", views.export_cancel_view, name="export_cancel"),
    path("exports/<int:job_id>/retry/", views.export_retry_view, name="export_retry"),
    path("exports/<int:job_id>/download/", views.export_download, name="export_download"),
]
