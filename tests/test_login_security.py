"""Logins under attack: API tokens die with a password change or a deactivation, and password
guessing is limited on every login (web, admin, API) through a cache all processes share."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.forms import AdminPasswordChangeForm, SetPasswordForm
from django.core.cache import caches
from django.db import connection
from django.test import Client
from rest_framework.authtoken.models import Token

from agents.models import Agent
from agents.services import sync_access
from tests.factories import AgentFactory

ROOT = Path(__file__).resolve().parent.parent
OFFERS = "/api/v1/agent/offers/"
TOKEN = "/api/v1/auth/token/"


@pytest.fixture(autouse=True)
def _fast(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def ann(db) -> Agent:
    return AgentFactory(name="Ann Lee", email="ann@example.com")


def token_works(key: str) -> bool:
    return Client(headers={"Authorization": f"Token {key}"}).get(OFFERS).status_code == 200


# --- 4: tokens die with a password change and a deactivation -----------------------------------


@pytest.mark.parametrize("how", ["set_password", "reset_form", "admin_form"])
def test_a_password_change_ends_the_old_api_token(ann, how):
    old = Token.objects.create(user=ann.user).key
    assert token_works(old)
    user = ann.user
    data = {"new_password1": "Fresh-pass-2027", "new_password2": "Fresh-pass-2027"}
    if how == "set_password":
        user.set_password("Fresh-pass-2027")
        user.save()
    elif how == "reset_form":  # the "forgot my password" link's last step
        form = SetPasswordForm(user, data)
        assert form.is_valid(), form.errors
        form.save()
    else:  # the admin's "change password" page
        form = AdminPasswordChangeForm(user, {"password1": "Fresh-pass-2027",
                                              "password2": "Fresh-pass-2027"})
        assert form.is_valid(), form.errors
        form.save()
    assert not token_works(old)
    fresh = Client().post(TOKEN, {"username": "ann@example.com", "password": "Fresh-pass-2027"},
                          content_type="application/json")
    assert fresh.status_code == 200 and fresh.json()["token"] != old
    assert token_works(fresh.json()["token"])


def test_other_changes_keep_the_token(ann):
    key = Token.objects.create(user=ann.user).key
    ann.user.first_name = "Annie"
    ann.user.save()
    ann.accepting_leads = False
    ann.save()
    assert token_works(key)


@pytest.mark.parametrize("whose", ["agent", "user"])
def test_deactivation_ends_the_api_token(ann, whose):
    key = Token.objects.create(user=ann.user).key
    target = ann if whose == "agent" else ann.user
    target.is_active = False
    target.save()
    assert not Token.objects.filter(key=key).exists()
    assert not token_works(key)


def test_deactivation_saved_with_update_fields_ends_the_token(ann):
    """A service saving only ``is_active`` goes through the same signal."""
    key = Token.objects.create(user=ann.user).key
    agent = Agent.objects.get(pk=ann.pk)
    agent.is_active = False
    agent.save(update_fields=["is_active"])
    assert not Token.objects.filter(key=key).exists()


# --- 5: password guessing is limited everywhere, in a shared cache -----------------------------


def web_login(client: Client, path: str, username: str, password: str):
    return client.post(path, {"username": username, "password": password})


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_the_eleventh_login_try_in_a_minute_is_refused(path, db):
    meg = AgentFactory(name="Meg Boss", email="meg@example.com", role=Agent.Role.MANAGER)
    sync_access(meg)
    meg.user.set_password("right-pass-2026")
    meg.user.save()
    for _ in range(10):  # each from a fresh client, as a script would
        response = web_login(Client(), path, "meg@example.com", "guess")
        assert response.status_code == 200  # the form again, with its error
    client = Client()
    response = web_login(client, path, "MEG@example.com", "right-pass-2026")
    assert response.status_code == 200
    assert "Too many login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_successful_login_starts_the_count_again(db):
    ann = AgentFactory(email="ann@example.com")
    ann.user.set_password("right-pass-2026")
    ann.user.save()
    for _ in range(9):
        web_login(Client(), "/accounts/login/", "ann@example.com", "guess")
    assert web_login(Client(), "/accounts/login/", "ann@example.com",
                     "right-pass-2026").status_code == 302
    for _ in range(9):
        web_login(Client(), "/accounts/login/", "ann@example.com", "guess")
    assert web_login(Client(), "/accounts/login/", "ann@example.com",
                     "right-pass-2026").status_code == 302


def test_web_logins_are_limited_per_client_address(db, settings):
    settings.LOGIN_ADDRESS_RATE_PER_MINUTE = 5
    for n in range(5):
        web_login(Client(), "/accounts/login/", f"nobody{n}@example.com", "guess")
    response = web_login(Client(), "/accounts/login/", "someone@example.com", "guess")
    assert "Too many login attempts" in response.content.decode()
    other = Client(REMOTE_ADDR="198.51.100.7")
    response = web_login(other, "/accounts/login/", "someone@example.com", "guess")
    assert "Too many login attempts" not in response.content.decode()


def test_the_eleventh_api_login_in_a_minute_is_refused(ann):
    for _ in range(10):
        response = Client().post(TOKEN, {"username": "ann@example.com", "password": "guess"},
                                 content_type="application/json")
        assert response.status_code == 400
    response = Client().post(TOKEN, {"username": "ann@example.com", "password": "pass-12345"},
                             content_type="application/json")
    assert response.status_code == 429


def test_every_limit_lives_in_a_cache_all_processes_share(db):
    backend = django_settings.CACHES["default"]["BACKEND"]
    assert backend in {"django.core.cache.backends.db.DatabaseCache",
                       "django.core.cache.backends.redis.RedisCache"}
    first, second = caches.create_connection("default"), caches.create_connection("default")
    first.set("shared-check", 7)
    assert second.get("shared-check") == 7


def test_redis_url_selects_the_redis_cache():
    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:6390/3"}
    out = subprocess.run(
        [sys.executable, "-c", "import django, os; os.environ.setdefault("
         "'DJANGO_SETTINGS_MODULE', 'config.settings'); django.setup(); "
         "from django.conf import settings; c = settings.CACHES['default']; "
         "print(c['BACKEND'], c['LOCATION'])"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["django.core.cache.backends.redis.RedisCache",
                                  "redis://127.0.0.1:6390/3"]


GUESS_TEN_TIMES = """
import django, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from django.test import Client
for _ in range(10):
    body = {{"username": "ann@example.com", "password": "guess"}}
    kwargs = {{"content_type": "application/json"}} if "/api/" in "{path}" else {{}}
    assert Client().post("{path}", body, **kwargs).status_code in (200, 400)
"""


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/accounts/login/", TOKEN])
def test_the_limit_holds_across_processes(path):
    """Ten guesses from another server process, the eleventh here: refused."""
    AgentFactory(name="Ann Lee", email="ann@example.com")
    caches["default"].clear()
    db = connection.settings_dict
    url = (f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:"
           f"{db['PORT'] or 5432}/{db['NAME']}")
    subprocess.run([sys.executable, "-c", GUESS_TEN_TIMES.format(path=path)], cwd=ROOT, check=True,
                   env={**os.environ, "DATABASE_URL": url})
    if path == TOKEN:
        response = Client().post(TOKEN, {"username": "ann@example.com", "password": "pass-12345"},
                                 content_type="application/json")
        assert response.status_code == 429
    else:
        client = Client()
        response = web_login(client, path, "ann@example.com", "pass-12345")
        assert "Too many login attempts" in response.content.decode()
        assert "_auth_user_id" not in client.session
    caches["default"].clear()
