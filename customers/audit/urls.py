from django.urls import path

from customers.audit import views

urlpatterns = [
    path("audit/", views.audit_list, name="audit_list"),
    path("audit/export/", views.audit_export, name="audit_export"),
    path("audit/entries/<int:entry_id>/", views.audit_entry_detail, name="audit_entry"),
    path("audit/unknown/", views.audit_unknown, name="audit_unknown"),
    path("audit/unknown/<int:entry_id>/verify/", views.audit_unknown_verify, name="audit_unknown_verify"),
]
