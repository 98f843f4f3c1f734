import pytest


@pytest.mark.parametrize("query", ["?q=abc%00def", "?q%00=x", "?a=1&b=%00"])
def test_a_nul_in_the_query_string_is_refused_with_400(client, query):
    response = client.get("/accounts/login/" + query)
    assert response.status_code == 400
    assert b"NUL" in response.content


def test_a_nul_in_a_form_field_is_refused_with_400(client):
    response = client.post("/accounts/login/", {"username": "a\x00b", "password": "x"})
    assert response.status_code == 400
    assert b"'username'" in response.content


@pytest.mark.django_db
def test_ordinary_query_strings_pass(client):
    assert client.get("/accounts/login/?next=/directory/users/%3Fq%3Dann").status_code == 200


@pytest.mark.django_db
def test_pages_show_times_in_the_signed_in_persons_time_zone(signed_in):
    from tests.factories import UserFactory

    tokyo = UserFactory(time_zone="Asia/Tokyo")
    assert b"times shown in JST" in signed_in(tokyo).get("/").content


@pytest.mark.django_db
def test_without_a_time_zone_of_their_own_pages_use_the_portals(signed_in, outsider):
    assert b"times shown in UTC" in signed_in(outsider).get("/").content
