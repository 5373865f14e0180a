"""Forgot password: the login page links to it, the pages are the product's (not the Django
admin's), the email is sent with a working link, and the new password logs in."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from agents.models import Agent
from agents.services import ensure_login

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def newcomer() -> Agent:
    """An agent added in the admin without a password: the reset link is how they get in."""
    agent = Agent.objects.create(name="Nia Park", email="nia@example.com")
    ensure_login(agent)
    return agent


def test_the_login_page_links_to_forgot_password(client):
    page = client.get("/accounts/login/").content.decode()
    assert 'href="/accounts/password_reset/">Forgot password?</a>' in page


def test_a_newcomer_gets_the_email_and_chooses_a_password(client, newcomer):
    form = client.get("/accounts/password_reset/").content.decode()
    assert "Forgot your password?" in form and "Django" not in form
    assert "css/app.css" in form  # the product's own page

    done = client.post("/accounts/password_reset/", {"email": "NIA@example.com"}, follow=True)
    assert "Check your email" in done.content.decode()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["nia@example.com"]
    assert message.subject == "Choose a new leadrouter password"
    assert "Hello Nia," in message.body and "Django" not in message.body
    link = re.search(r"https?://\S+/accounts/reset/\S+/", message.body).group(0)

    confirm = client.get(link, follow=True)
    page = confirm.content.decode()
    assert "Choose a new password" in page and "Django" not in page
    saved = client.post(confirm.redirect_chain[-1][0], {
        "new_password1": "harbour-lights-42", "new_password2": "harbour-lights-42"},
        follow=True)
    assert "Your new password is saved" in saved.content.decode()

    logged_in = client.post("/accounts/login/", {"username": "nia@example.com",
                                                 "password": "harbour-lights-42"})
    assert logged_in.status_code == 302


def test_an_unknown_email_sends_nothing_and_says_the_same(client, newcomer):
    done = client.post("/accounts/password_reset/", {"email": "who@example.com"}, follow=True)
    assert "Check your email" in done.content.decode()
    assert mail.outbox == []


def test_a_used_link_says_so_and_offers_a_new_one(client, newcomer):
    client.post("/accounts/password_reset/", {"email": "nia@example.com"})
    link = re.search(r"https?://\S+/accounts/reset/\S+/", mail.outbox[0].body).group(0)
    confirm = client.get(link, follow=True)
    client.post(confirm.redirect_chain[-1][0], {"new_password1": "harbour-lights-42",
                                                "new_password2": "harbour-lights-42"})
    again = client.get(link, follow=True).content.decode()
    assert "already been used or is too old" in again
    assert 'href="/accounts/password_reset/"' in again


def test_mismatched_passwords_are_shown_on_the_branded_page(client, newcomer):
    client.post("/accounts/password_reset/", {"email": "nia@example.com"})
    link = re.search(r"https?://\S+/accounts/reset/\S+/", mail.outbox[0].body).group(0)
    confirm = client.get(link, follow=True)
    page = client.post(confirm.redirect_chain[-1][0], {
        "new_password1": "harbour-lights-42", "new_password2": "harbour-lights-43"})
    text = page.content.decode()
    assert page.status_code == 200 and "didn’t match" in text and "Django" not in text


def test_the_admin_login_links_to_the_same_forgot_password_page(client):
    page = client.get("/admin/login/").content.decode()
    assert 'href="/accounts/password_reset/">Forgot password?</a>' in page
    assert "Forgotten your" not in page  # Django's own admin reset pages are not used
    form = client.get("/accounts/password_reset/").content.decode()
    assert "Forgot your password?" in form and "Django" not in form
