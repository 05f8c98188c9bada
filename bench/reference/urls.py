from django.contrib.auth import views as auth_views
from django.urls import path

from reference import views

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("customers/live/", views.customer_list, name="customer_list"),
    path("customers/<str:customer_id>/", views.customer_detail, name="customer_detail"),
]
