"""Production settings and error pages: DEBUG off unless asked for, `check --deploy` clean with
the README's production settings, static files from WhiteNoise, offline API docs behind a
login, and friendly 404/403/405/500 pages in the product's look."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.views import defaults
from whitenoise.middleware import WhiteNoiseMiddleware

from tests.factories import AgentFactory

ROOT = Path(__file__).resolve().parent.parent


def env_lines(text: str) -> dict[str, str]:
    """The ``KEY=value`` lines of a shell block or an environment file."""
    pairs = [line.split("=", 1) for line in text.splitlines() if re.match(r"^[A-Z_]+=", line)]
    return {key: value.strip().strip("'\"") for key, value in pairs}


def readme_section(title: str) -> str:
    return (ROOT / "README.md").read_text().split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def readme_production_env() -> dict[str, str]:
    """The ``KEY=value`` lines of the README's "Production settings" example."""
    section = readme_section("Production settings")
    return env_lines(re.search(r"```sh\n(.*?)```", section, re.S).group(1))


DEPLOY = ROOT / "docs" / "deploy"


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True)


# --- 19: production settings ---------------------------------------------------------------


def test_debug_is_off_unless_asked_for():
    env = {k: v for k, v in os.environ.items() if k != "DEBUG"}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    assert run_python(code, env).stdout.strip() == "False"
    assert run_python(code, {**env, "DEBUG": "1"}).stdout.strip() == "True"


def test_check_deploy_is_clean_with_the_readme_production_settings():
    production = readme_production_env()
    assert production.get("DEBUG", "").lower() in {"0", "false", "off", "no"}
    assert {"SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SESSION_COOKIE_SECURE",
            "CSRF_COOKIE_SECURE", "SECURE_PROXY_SSL_HEADER"} <= set(production)
    env = {**{k: v for k, v in os.environ.items() if k != "DEBUG"}, **production}
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy",
                             "--fail-level", "WARNING"],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in (result.stdout + result.stderr)
    assert "no issues" in result.stdout


def test_check_deploy_is_clean_with_the_deployment_environment_file():
    """The file every process of a deployment reads (README "Running in production")."""
    production = env_lines((DEPLOY / "leadrouter.env.example").read_text())
    assert readme_production_env().items() <= production.items()  # the same, and more
    assert production["Q_BROKER"] == "redis" and production["REDIS_URL"].startswith("redis://")
    env = {**{k: v for k, v in os.environ.items() if k != "DEBUG"}, **production}
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy",
                             "--fail-level", "WARNING"],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in (result.stdout + result.stderr)
    assert "no issues" in result.stdout


def _unit(name: str) -> dict[str, list[str]]:
    """A systemd unit's ``Key=value`` lines, each key's values in order."""
    unit: dict[str, list[str]] = {}
    for line in (DEPLOY / "systemd" / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            unit.setdefault(key, []).append(value)
    return unit


def test_the_systemd_units_start_what_the_procfile_starts():
    procfile = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines()
                    if line.strip())
    assert set(procfile) == {"release", "web", "worker", "clock"}
    python = "/srv/leadrouter/.venv/bin/python manage.py "
    expected = {
        "leadrouter-web.service": ["gunicorn config.wsgi"],
        "leadrouter-worker.service": [python + "qcluster"],
        "leadrouter-clock.service": [python + "run_clock --loop"],
        "leadrouter-release.service": [python + "migrate --noinput",
                                       python + "createcachetable",
                                       python + "collectstatic --noinput"],
    }
    for name, commands in expected.items():
        unit = _unit(name)
        assert unit["EnvironmentFile"] == ["/etc/leadrouter/leadrouter.env"], name
        assert unit["WorkingDirectory"] == ["/srv/leadrouter"], name
        assert len(unit["ExecStart"]) == len(commands), name
        for started, command in zip(unit["ExecStart"], commands, strict=True):
            assert command in started, (name, started)
    assert "gunicorn config.wsgi --workers" in procfile["web"]
    assert procfile["worker"] == "python manage.py qcluster"
    assert procfile["clock"] == "python manage.py run_clock --loop"
    assert "migrate --noinput" in procfile["release"]
    assert "createcachetable" in procfile["release"]
    wanted = _unit("leadrouter.target")["Wants"][0].split()
    assert wanted == ["leadrouter-web.service", "leadrouter-worker.service",
                      "leadrouter-clock.service"]
    for name in wanted:
        assert _unit(name)["WantedBy"] == ["leadrouter.target"]
        assert _unit(name)["Restart"] == ["always"]
    running = readme_section("Running in production")
    for path in sorted((DEPLOY / "systemd").iterdir()):
        assert path.name in running, f"the README does not show how to install {path.name}"


def test_https_settings_come_from_the_environment():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings",
           "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
           "SECURE_HSTS_SECONDS": "31536000", "SESSION_COOKIE_SECURE": "true"}
    code = ("import django; django.setup(); from django.conf import settings as s; "
            "print(s.SECURE_PROXY_SSL_HEADER, s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE)")
    assert run_python(code, env).stdout.strip() == (
        "('HTTP_X_FORWARDED_PROTO', 'https') 31536000 True")


def test_static_files_are_served_by_whitenoise(settings, tmp_path):
    assert "whitenoise.middleware.WhiteNoiseMiddleware" in settings.MIDDLEWARE
    settings.STATIC_ROOT = tmp_path
    # Our own files only: compressing the admin's and the docs' takes a minute.
    settings.STATICFILES_FINDERS = ["django.contrib.staticfiles.finders.FileSystemFinder"]
    call_command("collectstatic", "--noinput", verbosity=0)
    serve = WhiteNoiseMiddleware(lambda request: HttpResponse(status=404))
    response = serve(RequestFactory().get("/static/css/app.css"))
    assert response.status_code == 200
    gzipped = serve(RequestFactory().get("/static/css/app.css", HTTP_ACCEPT_ENCODING="gzip"))
    assert gzipped.headers.get("Content-Encoding") in {"gzip", "br"}


@pytest.fixture
def logged_in(db, settings) -> Client:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    client = Client()
    client.force_login(AgentFactory().user)
    return client


def test_api_docs_work_offline(logged_in):
    for path in ("/api/docs/", "/api/redoc/"):
        page = logged_in.get(path)
        assert page.status_code == 200
        html = page.content.decode()
        assert "cdn.jsdelivr.net" not in html and "//unpkg.com" not in html
        assert "/static/drf_spectacular_sidecar/" in html


def test_schema_and_docs_need_a_login_when_debug_is_off(db, settings, logged_in):
    anonymous = Client()
    assert anonymous.get("/api/schema/").status_code in (401, 403)
    for path in ("/api/docs/", "/api/redoc/"):
        response = anonymous.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert logged_in.get("/api/schema/").status_code == 200
    settings.DEBUG = True
    assert anonymous.get("/api/schema/").status_code == 200
    assert anonymous.get("/api/docs/").status_code == 200


# --- 20: friendly error pages ---------------------------------------------------------------


def looks_like_the_product(html: str) -> bool:
    return 'class="topbar"' in html and "css/app.css" in html and "leadrouter" in html


def test_a_missing_page_is_a_friendly_404(db):
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html and looks_like_the_product(html)
    assert "Using the URLconf" not in html  # never the debug page


def test_a_refused_page_is_a_friendly_403(db):
    response = defaults.permission_denied(RequestFactory().get("/"), PermissionDenied())
    assert response.status_code == 403
    html = response.content.decode()
    assert "Not allowed" in html and looks_like_the_product(html)


def test_a_form_without_its_csrf_token_is_a_friendly_403(db):
    response = Client(enforce_csrf_checks=True).post("/accounts/login/", {"username": "x"})
    assert response.status_code == 403
    html = response.content.decode()
    assert "Please try again" in html and looks_like_the_product(html)


def test_a_wrong_method_on_a_page_is_a_friendly_405_and_json_on_the_api(logged_in):
    response = logged_in.get("/notifications/read/")  # a button's POST-only address
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    html = response.content.decode()
    assert "Not available this way" in html and looks_like_the_product(html)
    api = Client().get("/api/v1/auth/token/")
    assert api.status_code == 405 and api["Content-Type"] == "application/json"


def test_a_server_error_is_a_friendly_500_without_a_request_context():
    response = defaults.server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong" in html and looks_like_the_product(html)


def test_an_exception_in_a_view_shows_the_friendly_500(db, settings):
    settings.ROOT_URLCONF = "tests.test_production"
    client = Client(raise_request_exception=False)
    response = client.get("/boom/")
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()


def _boom(request):
    raise RuntimeError("boom")


from django.urls import include as url_include  # noqa: E402  (the urlconf of the test above)
from django.urls import path as url_path  # noqa: E402

urlpatterns = [url_path("boom/", _boom), url_path("", url_include("config.urls"))]
