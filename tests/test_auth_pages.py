"""Sign-in, sign-out, lockout and password reset, through the real views (django-axes included).

client.post to the login URL rather than client.login: django-axes needs the request.
"""

import re

import pytest
from django.core import mail
from django.urls import reverse

from directory.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # UserFactory's password


def text(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def sign_in(client, username, password, **extra):
    return client.post(reverse("login"), {"username": username, "password": password, **extra})


@pytest.fixture
def ada(db):
    return UserFactory(display_name="Ada Lovelace", user_principal_name="ada@contoso.example")


def test_sign_in_page_asks_for_the_user_principal_name(client):
    response = client.get(reverse("login"))

    html = response.content.decode()
    assert response.status_code == 200
    assert '<label for="id_username" class="form-label">User principal name</label>' in html
    assert 'placeholder="name@contoso.example"' in html
    assert 'autocomplete="current-password"' in html
    assert reverse("password_reset") in html


def test_sign_in_with_the_correct_password_opens_the_portal(client, ada):
    response = sign_in(client, "ada@contoso.example", PASSWORD)

    assert response.status_code == 302
    assert response.url == reverse("home")
    assert client.get(reverse("home")).context["user"] == ada
    assert AuditEvent.objects.filter(action="auth.sign_in", actor_id=str(ada.uuid)).exists()


def test_sign_in_ignores_the_case_of_the_user_principal_name(client, ada):
    response = sign_in(client, "ADA@Contoso.Example", PASSWORD)

    assert response.status_code == 302


def test_sign_in_follows_next_to_the_page_asked_for(client, ada):
    users = reverse("directory:user-list")

    response = sign_in(client, "ada@contoso.example", PASSWORD, next=users)

    assert response.url == users


def test_wrong_password_shows_an_error_and_signs_nobody_in(client, ada):
    response = sign_in(client, "ada@contoso.example", "wrong password")

    assert response.status_code == 200
    assert "Enter a correct user principal name and password." in text(response)
    assert "may be case-sensitive" not in text(response)
    assert 'role="alert"' in response.content.decode()
    assert not response.context["user"].is_authenticated
    assert AuditEvent.objects.filter(action="auth.sign_in_failed").exists()


def test_disabled_account_cannot_sign_in(client):
    UserFactory(user_principal_name="gone@contoso.example", is_active=False)

    response = sign_in(client, "gone@contoso.example", PASSWORD)

    assert response.status_code == 200
    assert not response.context["user"].is_authenticated


def test_five_wrong_passwords_lock_the_account_out_for_15_minutes(client, ada):
    for _ in range(4):
        assert sign_in(client, "ada@contoso.example", "wrong").status_code == 200

    locked = sign_in(client, "ada@contoso.example", "wrong")

    assert locked.status_code == 429
    page = text(locked)
    assert "Sign-in is paused for this account" in page
    assert "There were 5 failed sign-in attempts" in page
    assert "You can try again in 15 minutes" in page
    assert "Reset my password" in page
    assert AuditEvent.objects.filter(action="auth.locked_out").exists()


def test_locked_out_account_is_refused_even_with_the_correct_password(client, ada):
    for _ in range(5):
        sign_in(client, "ada@contoso.example", "wrong")

    response = sign_in(client, "ada@contoso.example", PASSWORD)

    assert response.status_code == 429
    assert "There were 5 failed sign-in attempts for ada@contoso.example" in text(response)
    assert not client.get(reverse("home")).wsgi_request.user.is_authenticated


def test_changing_the_case_of_the_user_principal_name_does_not_dodge_the_lockout(client, ada):
    for attempt in ["ada@contoso.example", "ADA@contoso.example", "Ada@Contoso.example"] * 2:
        sign_in(client, attempt, "wrong")

    response = sign_in(client, "aDa@contoso.example", PASSWORD)

    assert response.status_code == 429


def test_sign_out_is_a_post_that_returns_to_sign_in(client, ada):
    sign_in(client, "ada@contoso.example", PASSWORD)

    refused = client.get(reverse("logout"))
    response = client.post(reverse("logout"))

    assert refused.status_code == 405
    assert response.status_code == 302
    assert response.url == reverse("login")
    assert client.get(reverse("home")).status_code == 302


def test_password_reset_emails_a_link_that_sets_a_new_password(client, ada):
    response = client.post(reverse("password_reset"), {"email": "ADA@contoso.example"})

    assert response.status_code == 302
    assert client.get(response.url).status_code == 200
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["ada@contoso.example"]
    assert email.subject == "Reset your Access reviews password"
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", email.body).group(1)

    form = client.get(link, follow=True)
    assert "Choose a new password" in text(form)
    assert "For ada@contoso.example." in text(form)
    done = client.post(
        form.redirect_chain[-1][0],
        {
            "new_password1": "a brand new passphrase 42",
            "new_password2": "a brand new passphrase 42",
        },
        follow=True,
    )

    assert "Your password was changed" in text(done)
    assert sign_in(client, "ada@contoso.example", PASSWORD).status_code == 200
    assert sign_in(client, "ada@contoso.example", "a brand new passphrase 42").status_code == 302


def test_password_reset_link_works_only_once(client, ada):
    client.post(reverse("password_reset"), {"email": "ada@contoso.example"})
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    new = {"new_password1": "another fine passphrase", "new_password2": "another fine passphrase"}
    client.post(form.redirect_chain[-1][0], new)

    again = client.get(link, follow=True)

    assert "This link no longer works" in text(again)


def test_password_reset_for_an_unknown_address_sends_nothing_and_says_the_same(client, ada):
    response = client.post(reverse("password_reset"), {"email": "nobody@contoso.example"})

    assert response.status_code == 302
    assert response.url == reverse("password_reset_done")
    assert mail.outbox == []


def test_password_reset_pages_render_with_labels(client):
    form = client.get(reverse("password_reset")).content.decode()
    done = text(client.get(reverse("password_reset_done")))
    complete = text(client.get(reverse("password_reset_complete")))

    assert '<label for="id_email" class="form-label">Email address</label>' in form
    assert "Check your email" in done
    assert "Your password was changed" in complete


def test_auth_pages_load_assets_only_from_static(client):
    html = client.get(reverse("login")).content.decode()

    assert re.findall(r'(?:href|src)="(https?:)?//', html) == []
