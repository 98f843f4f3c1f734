from django.contrib.auth.forms import AuthenticationForm


class SignInForm(AuthenticationForm):
    """Django's sign-in form, worded for user principal names (which ignore case)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "Enter a correct user principal name and password. "
        "The password is case-sensitive.",
    }
