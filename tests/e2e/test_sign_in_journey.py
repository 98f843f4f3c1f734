import pytest

from directory.models import AuditEvent
from tests.factories import UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


def sign_in(page, live_server, upn, password=PASSWORD):
    page.goto(f"{live_server.url}/")
    page.get_by_label("User principal name").fill(upn)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def open_menu_if_collapsed(page):
    toggler = page.locator(".navbar-toggler")
    if toggler.is_visible():
        toggler.click()
        # Wait for Bootstrap's collapse animation to finish before clicking inside the menu.
        page.locator("#nav-main.collapse.show").wait_for()


def test_an_admin_signs_in_browses_the_directory_and_signs_out(page, live_server, admin_user):
    UserFactory(display_name="Zed Zimmerman")

    sign_in(page, live_server, admin_user.user_principal_name)
    assert page.get_by_role("heading", name="Welcome, Alice Admin").is_visible()

    open_menu_if_collapsed(page)
    page.get_by_role("button", name="Directory").click()
    page.get_by_role("link", name="Users", exact=True).click()
    assert page.get_by_text("Zed Zimmerman").first.is_visible()

    open_menu_if_collapsed(page)
    page.get_by_role("button", name="Sign out").click()
    assert page.get_by_label("User principal name").is_visible()
    assert AuditEvent.objects.filter(action="auth.sign_out").exists()


def test_a_wrong_password_is_refused_and_audited(page, live_server, outsider):
    sign_in(page, live_server, outsider.user_principal_name, "not the password")
    assert page.locator(".alert-danger, .errorlist").first.is_visible()
    assert AuditEvent.objects.filter(action="auth.sign_in_failed").exists()
