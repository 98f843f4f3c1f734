from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from accessreviews.views import portal as views
from directory.forms import SignInForm

urlpatterns = [
    path("", views.home, name="home"),
    path("permissions/", views.permission_matrix, name="permission-matrix"),
    path("healthz", views.health, name="health"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            authentication_form=SignInForm, redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("reviews/", include("accessreviews.reviews_urls")),
    path("directory/", include("directory.urls")),
    path("notifications/", include("notifications.urls")),
    path("admin/", admin.site.urls),
]

handler400 = "accessreviews.views.portal.bad_request"
handler403 = "accessreviews.views.portal.permission_denied"
handler404 = "accessreviews.views.portal.page_not_found"
handler500 = "accessreviews.views.portal.server_error"
