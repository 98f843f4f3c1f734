from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("read-all/", views.inbox_read_all, name="inbox-read-all"),
    path("<uuid:uuid>/", views.message_detail, name="message-detail"),
    path("<uuid:uuid>/open/", views.message_open, name="message-open"),
    path("<uuid:uuid>/read/", views.message_read, name="message-read"),
    path("deliveries/", views.delivery_log, name="delivery-log"),
    path("deliveries/<uuid:uuid>/resend/", views.message_resend, name="message-resend"),
]
