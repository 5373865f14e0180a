"""Run the product: the web server, the task cluster and the claim clock side by side.

The clock is a process of its own (``run_clock --loop``), so that it never waits behind the
notification and webhook tasks in the cluster's queue; the Procfile starts the same three.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from routing.management.demo import require_demo

STOP_GRACE_SECONDS = 10


class Command(BaseCommand):
    help = ("Start the web server, the django-q2 task cluster and the claim clock together; "
            "Ctrl-C stops all three.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")
        parser.add_argument("--demo", action="store_true",
                            help="The living demo (make run; DEBUG only): new demo leads "
                            "arrive every 20 seconds (demo_life).")

    def handle(self, *args: Any, host: str, port: str, demo: bool = False,
               **options: Any) -> None:
        manage = [sys.executable, "manage.py"]
        if demo:
            require_demo()  # never with production settings
        # The shared cache's table (every limit counts there; idempotent) and, with DEBUG off,
        # the static files WhiteNoise serves (with DEBUG on it reads the source folders).
        call_command("createcachetable")
        if not settings.DEBUG:
            self.stdout.write("Collecting the static files (compressed: about a minute)...")
            call_command("collectstatic", "--noinput", verbosity=0)
        cluster = subprocess.Popen([*manage, "qcluster"])
        clock = subprocess.Popen([*manage, "run_clock", "--loop"])
        web = subprocess.Popen([*manage, "runserver", "--noreload", f"{host}:{port}"])
        processes: tuple[subprocess.Popen, ...] = (web, cluster, clock)
        if demo:
            processes += (subprocess.Popen([*manage, "demo_life", "--loop"]),)
            self.stdout.write("Demo: a new lead arrives every 20 seconds.")
        self.stdout.write(f"leadrouter is running on http://{host}:{port}/ (task cluster pid "
                          f"{cluster.pid}, clock pid {clock.pid}); press Ctrl-C to stop.")
        stopping = False

        def stop(*_: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping and all(process.poll() is None for process in processes):
                time.sleep(0.5)
        finally:
            for process in processes:
                stop_process(process)


def stop_process(process: subprocess.Popen, *, group: bool = False) -> None:
    """Ask politely, then insist: the cluster sometimes ignores SIGTERM.

    ``group``: the process was started in a session of its own (``start_new_session``), and
    its whole process group goes, so that no worker it forked outlives it.
    """
    if process.poll() is not None and not group:
        return

    def send(sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(process.pid, sig)
            else:
                process.send_signal(sig)

    send(signal.SIGTERM)
    try:
        process.wait(STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        process.wait()
    if group:  # the workers may still be going down after their parent
        send(signal.SIGKILL)
