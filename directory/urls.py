from django.urls import path

from directory import views

app_name = "directory"

urlpatterns = [
    path("users/", views.user_list, name="user-list"),
    path("users/<uuid:uuid>/", views.user_detail, name="user-detail"),
    path("groups/", views.group_list, name="group-list"),
    path("groups/<uuid:uuid>/", views.group_detail, name="group-detail"),
    path("applications/", views.application_list, name="application-list"),
    path("applications/<uuid:uuid>/", views.application_detail, name="application-detail"),
    path("roles/", views.role_list, name="role-list"),
    path("roles/<uuid:uuid>/", views.role_detail, name="role-detail"),
    path("audit/", views.audit_list, name="audit-list"),
    path("users/<uuid:uuid>/reenable/", views.user_reenable, name="user-reenable"),
]
