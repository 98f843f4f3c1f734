"""Error pages come from the layout; a crash never shows a debug page when DEBUG is off."""

import pytest
from django.test import Client, override_settings
from django.urls import path


def crash(request):
    raise RuntimeError("secret internals")


urlpatterns = [path("crash/", crash)]


@override_settings(ROOT_URLCONF=__name__, DEBUG=False)
def test_an_unhandled_error_shows_the_500_page_without_internals():
    response = Client(raise_request_exception=False).get("/crash/")
    assert response.status_code == 500
    assert b"Something went wrong on our side" in response.content
    assert b"secret internals" not in response.content
    assert b"Traceback" not in response.content


@pytest.mark.django_db
def test_an_unknown_page_shows_the_404_page_in_the_layout(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert b"Page not found" in response.content
    assert b"Access reviews" in response.content


@pytest.mark.django_db
def test_a_refusal_shows_the_403_page_in_the_layout(signed_in, outsider):
    response = signed_in(outsider).get("/admin/")
    assert response.status_code == 403
    assert b"You do not have access to this page" in response.content
