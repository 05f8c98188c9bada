from django.urls import path

from customers.screens import views

urlpatterns = [
    path("customers/", views.customer_list_view, name="customer_list"),
    path("customers/lookup/", views.customer_lookup, name="customer_lookup"),
    path("customers/live/", views.customer_live_list_view, name="customer_live_list"),
    path("customers/<str:customer_id>/", views.customer_detail, name="customer_detail"),
    path("customers/<str:customer_id>/edit/", views.customer_edit, name="customer_edit"),
    path("customers/<str:customer_id>/history/", views.customer_history_view, name="customer_history"),
    path("customers/<str:customer_id>/flag/", views.customer_flag, name="customer_flag"),
    path(
        "customers/<str:customer_id>/accounts/deactivate/",
        views.customer_accounts_deactivate_view,
        name="customer_accounts_deactivate",
    ),
    path(
        "customers/<str:customer_id>/accounts/<str:account_id>/<str:action>/",
        views.account_action_view,
        name="account_action",
    ),
    path(
        "customers/<str:customer_id>/<str:action>/",
        views.customer_state_change_view,
        name="customer_state_change",
    ),
]
