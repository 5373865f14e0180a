"""A chunked body under a real gunicorn (on 127.0.0.1, a throw-away SQLite database): read,
not lost. Bounded: the server is stopped, by its own id, whatever happens."""

from __future__ import annotations

import http.client
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from routing.management.commands.serve import stop_process

PAT = {"first_name": "Pat", "email": "pat@example.org", "phone": "(212) 555-0101"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=180, check=True).stdout


@pytest.fixture
def server(tmp_path: Path):
    """gunicorn serving the product on a fresh database, and a source key for it."""
    db = tmp_path / "db.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "DEBUG": "1", "Q_SYNC": "0",
           "ALLOWED_HOSTS": "127.0.0.1,localhost"}
    _manage(env, "migrate", "--no-input", "-v", "0")
    key = _manage(env, "create_source_key", "Zillow").split()[-1]
    port = _free_port()
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
         f"127.0.0.1:{port}", "--workers", "1", "--timeout", "60"],
        cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        yield port, key, db
    finally:
        stop_process(process, group=True)
        log.close()


def test_a_chunked_post_under_gunicorn_is_routed(server):
    port, key, db = server
    body = json.dumps(PAT).encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            "POST", "/api/v1/leads/", body=iter([body[:10], body[10:]]), encode_chunked=True,
            headers={"Authorization": f"Api-Key {key}", "Content-Type": "application/json"})
        response = connection.getresponse()
        answer = response.read()
    finally:
        connection.close()
    assert response.status == 201, answer
    assert json.loads(answer)["status"] == "unassigned"
    with sqlite3.connect(db) as database:
        assert database.execute("select email from leads_lead").fetchall() == [
            ("pat@example.org",)]
        assert database.execute("select raw_body from leads_submission").fetchone()[0] == \
            body.decode()
