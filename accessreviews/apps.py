from django.apps import AppConfig


class AccessReviewsConfig(AppConfig):
    name = "accessreviews"
    verbose_name = "Access reviews"
