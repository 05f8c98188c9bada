from django.urls import path

from customers.compliance import views

urlpatterns = [
    path("compliance/", views.compliance_queue, name="compliance_queue"),
    path("compliance/export/", views.compliance_export, name="compliance_export"),
    path("compliance/<int:case_id>/", views.compliance_case, name="compliance_case"),
    path("compliance/<int:case_id>/claim/", views.compliance_case_claim, name="compliance_case_claim"),
    path(
        "compliance/<int:case_id>/unassign/", views.compliance_case_unassign, name="compliance_case_unassign"
    ),
    path("compliance/<int:case_id>/notes/", views.compliance_case_note, name="compliance_case_note"),
    path("compliance/<int:case_id>/status/", views.compliance_case_status, name="compliance_case_status"),
]
