"""Take portal lead e-mails in: one message file, a Maildir, an mbox, or standard input (``-``),
one line printed per message. A mail server can pipe each delivery: ``| manage.py ingest_email -``.
"""

from __future__ import annotations

import mailbox
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from leads.intake.email_service import EmailResult, receive_email
from leads.timeparse import parse_now


def raw_messages(target: str) -> Iterator[tuple[str, bytes]]:
    """(label, raw RFC 822 bytes) for each message of a file, Maildir, mbox or stdin."""
    if target == "-":
        yield "stdin", sys.stdin.buffer.read()
        return
    path = Path(target)
    if path.is_dir():
        if not ((path / "cur").is_dir() or (path / "new").is_dir()):
            raise CommandError(f"{path}: a directory but not a Maildir (no cur/ or new/)")
        box: mailbox.Mailbox = mailbox.Maildir(path, factory=None, create=False)
    elif not path.is_file():
        raise CommandError(f"{path}: no such file or directory")
    elif path.read_bytes()[:5] == b"From ":
        box = mailbox.mbox(path, factory=None, create=False)
    else:
        yield path.name, path.read_bytes()
        return
    for number, key in enumerate(sorted(box.keys()), start=1):
        yield f"{path.name}#{number}", box.get_bytes(key)


def describe(label: str, result: EmailResult) -> str:
    """One line a person reads: what happened to this message."""
    if result.status == "duplicate":
        return f"{label}: duplicate (same Message-ID), lead {result.lead_id or '-'}"
    if result.status == "rejected":
        return f"{label}: rejected: {result.reason} (submission {result.submission.pk})"
    agent = (f" to {result.agent}" if result.agent
             else f" to {', '.join(result.offered_to)}" if result.offered_to else "")
    return f"{label}: lead {result.lead_id} {result.status}{agent}"


class Command(BaseCommand):
    help = "Route the lead in each e-mail of a file, Maildir, mbox or stdin (-)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("target", help="A message file, a Maildir, an mbox, or - for stdin.")
        parser.add_argument("--source", help="The lead source's name (default: the parsing "
                            "rule's, the lead tags', else the recipient's name).")
        parser.add_argument("--now", help="Arrival time, ISO-8601 (default: now).")

    def handle(self, *args: Any, target: str, source: str | None, now: str | None,
               **options: Any) -> None:
        received_at = parse_now(now)
        for label, raw in raw_messages(target):
            result = receive_email(raw, received_at=received_at, source=source)
            self.stdout.write(describe(label, result))


