"""Make the VAPID key pair web push needs (WEBPUSH_VAPID_PUBLIC_KEY / _PRIVATE_KEY)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from notifications.push import generate_vapid_keys

KEYS = ("WEBPUSH_VAPID_PUBLIC_KEY", "WEBPUSH_VAPID_PRIVATE_KEY")


class Command(BaseCommand):
    help = ("Generate a VAPID key pair for web push and print it as environment lines; with "
            "--env-file, write it to that file unless keys are already configured (the demo).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--env-file", help="Append the keys to this .env file, unless it (or the "
            "environment) already has WEBPUSH_VAPID_PRIVATE_KEY: keys must stay the same, or "
            "every device has to turn alerts on again.")

    def handle(self, *args: Any, env_file: str | None = None, **options: Any) -> None:
        if env_file:
            path = Path(env_file)
            existing = path.read_text() if path.exists() else ""
            if os.environ.get(KEYS[1]) or re.search(rf"^\s*{KEYS[1]}\s*=\s*\S", existing, re.M):
                self.stdout.write(f"Web push keys already set ({path} or the environment).")
                return
        public, private = generate_vapid_keys()
        lines = (f"{KEYS[0]}={public}\n{KEYS[1]}={private}\n")
        if not env_file:
            self.stdout.write(lines, ending="")
            self.stderr.write("Keep the private key secret; changing the pair turns alerts off "
                              "on every device (each turns them on again).")
            return
        with path.open("a", encoding="utf-8") as f:
            if existing and not existing.endswith("\n"):
                f.write("\n")
            f.write("# Web push (VAPID) keys, made by manage.py generate_vapid_keys\n" + lines)
        self.stdout.write(f"Web push keys written to {path} (SITE_URL {settings.SITE_URL}).")
