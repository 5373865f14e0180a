"""API keys of lead sources: creation (shown once), lookup, revocation and the rate limit.

A key reads ``lr_<prefix>_<secret>``: the 8-character prefix is public and finds the key's
row; only the SHA-256 of the whole key is stored (the secret has 256 bits of entropy, so a
plain hash is enough: no slow password hashing on every request). ``take_key``, on every
request to the API, finds the key by its prefix and hash and counts the request in one
statement; ``check_header`` reads the key and compares the hash in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from config import cursors
from leads.models import LeadSource, SourceKey
from routing.middleware import config_read_with_key
from routing.models import Brokerage

KEY_START = "lr_"
PREFIX_LENGTH = 8
SCHEME = "Api-Key"


@dataclass
class KeyCheck:
    """The outcome of reading an ``Authorization`` header."""

    key: SourceKey | None
    prefix: str = ""  # what the caller sent as the public part, kept in the inbound log
    error: str = ""
    wait: int | None = None  # over the rate limit (``take_key``): seconds to wait


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def create_key(source: LeadSource | str, *, label: str = "") -> tuple[SourceKey, str]:
    """A new key for the source (created if needed): the row and the key, to show once."""
    with transaction.atomic():
        if isinstance(source, str):
            source = LeadSource.objects.named(source.strip())
        while True:
            prefix = secrets.token_hex(PREFIX_LENGTH // 2)
            if not SourceKey.objects.filter(prefix=prefix).exists():
                break
        raw_key = f"{KEY_START}{prefix}_{secrets.token_urlsafe(32)}"
        key = SourceKey.objects.create(source=source, label=label, prefix=prefix,
                                       key_hash=hash_key(raw_key))
    return key, raw_key


def revoke(key: SourceKey, *, now: datetime | None = None) -> SourceKey:
    """Refuse this key from now on (idempotent: the first revocation time is kept)."""
    now = now or timezone.now()
    SourceKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=now)
    key.refresh_from_db(fields=["revoked_at"])
    return key


def parse_prefix(raw_key: str) -> str:
    """The public part of a key as sent, or "" when it does not look like one of ours."""
    if raw_key.startswith(KEY_START) and raw_key[len(KEY_START) + PREFIX_LENGTH:][:1] == "_":
        return raw_key[len(KEY_START):len(KEY_START) + PREFIX_LENGTH]
    return ""


def _parse_header(header: str | None) -> tuple[str, KeyCheck]:
    """The key an ``Authorization`` header sends and its public part, or why it sends none."""
    if not header:
        return "", KeyCheck(None, error=f"Missing API key: send 'Authorization: {SCHEME} <key>'.")
    scheme, _, raw_key = header.strip().partition(" ")
    raw_key = raw_key.strip()
    if scheme.lower() != SCHEME.lower() or not raw_key:
        return "", KeyCheck(None, error=f"Expected 'Authorization: {SCHEME} <key>'.")
    return raw_key, KeyCheck(None, parse_prefix(raw_key))


def check_header(header: str | None) -> KeyCheck:
    """The active key named by an ``Authorization: Api-Key <key>`` header, or why not."""
    raw_key, parsed = _parse_header(header)
    if parsed.error:
        return parsed
    prefix = parsed.prefix
    key = (SourceKey.objects.select_related("source").filter(prefix=prefix).first()
           if prefix else None)
    if key is None or not hmac.compare_digest(key.key_hash, hash_key(raw_key)):
        return KeyCheck(None, prefix, "Invalid API key.")
    if key.revoked_at is not None:
        return KeyCheck(None, prefix, "This API key was revoked.")
    return KeyCheck(key, prefix)


def take_key(header: str | None, *, limit: int, now: datetime) -> KeyCheck:
    """The active key named by an ``Authorization: Api-Key <key>`` header, with this request
    counted in its minute of the rate limit; or why not. A key over its limit comes with
    ``wait`` set (the request is not counted).

    One ``UPDATE ... RETURNING`` finds the key by its prefix and hash, checks that it is not
    revoked, counts the request and returns the key's source (a stub: id and name) and the
    routing configuration's token, whose snapshot the request then holds (the view is marked
    ``reads_config_with_key``, so the request reads no token of its own). Only a refused key
    costs a second read, to say why. The hash is compared in SQL: it is the
    SHA-256 of a 256-bit secret, so how much of it matches tells a guesser nothing.
    """
    raw_key, check = _parse_header(header)
    if check.error:
        return check
    if check.prefix:
        found = _count_request(check.prefix, hash_key(raw_key), limit=limit, now=now)
        if found is not None:
            key, token = found
            config_read_with_key(token)
            return KeyCheck(key, check.prefix)
    refused = check_header(header)
    if refused.key is None:
        return refused
    return KeyCheck(refused.key, check.prefix, wait=_wait(now))  # over the limit


def _count_request(prefix: str, key_hash: str, *, limit: int, now: datetime
                   ) -> tuple[SourceKey, uuid.UUID | None] | None:
    """Count one request in the key's current minute, for the unrevoked key of this prefix and
    hash, and return the key with the configuration's token: None if there is no such key or
    it is over its limit.

    A fixed window kept on the key's row and moved by one conditional UPDATE, so it holds
    across server processes. The UPDATE also records ``last_used_at``. ``limit`` <= 0: none.
    """
    table, quote = SourceKey._meta.db_table, connection.ops.quote_name
    sources, brokerage = LeadSource._meta.db_table, Brokerage._meta.db_table
    window = now.replace(second=0, microsecond=0)

    def moment(value: datetime) -> Any:
        return SourceKey._meta.get_field("last_used_at").get_db_prep_value(value, connection)

    if limit > 0:
        counting = (f"{quote('window_count')} = CASE WHEN {quote('window_start')} = %s "
                    f"THEN {quote('window_count')} + 1 ELSE 1 END, "
                    f"{quote('window_start')} = %s, ")
        under = (f" AND ({quote('window_start')} IS NULL OR {quote('window_start')} <> %s "
                 f"OR {quote('window_count')} < %s)")
        params: list[Any] = [moment(window), moment(window), moment(now), prefix, key_hash,
                             moment(window), limit]
    else:
        counting, under, params = "", "", [moment(now), prefix, key_hash]
    # Its own transaction on PostgreSQL commits without waiting for the disk: a crash of the
    # database could forget the last counts of a minute, never a lead.
    unflushed = (" FROM (SELECT set_config('synchronous_commit', 'off', true)) AS unflushed"
                 if connection.vendor == "postgresql" and not connection.in_atomic_block else "")
    sql = (f"UPDATE {quote(table)} SET {counting}{quote('last_used_at')} = %s{unflushed} "
           f"WHERE {quote('prefix')} = %s AND {quote('key_hash')} = %s "
           f"AND {quote('revoked_at')} IS NULL{under} "
           f"RETURNING {quote('id')}, {quote('source_id')}, (SELECT s.{quote('name')} FROM "
           f"{quote(sources)} s WHERE s.{quote('id')} = {quote(table)}.{quote('source_id')}), "
           f"(SELECT b.{quote('config_token')} FROM {quote(brokerage)} b "
           f"WHERE b.{quote('id')} = 1)")
    with cursors.bound_cursor() as cursor:  # every request's: prepared on PostgreSQL
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    key_id, source_id, source_name, token = row
    key = SourceKey(pk=key_id, prefix=prefix, source_id=source_id, key_hash=key_hash,
                    last_used_at=now)
    key.source = LeadSource(pk=source_id, name=source_name)
    return key, Brokerage._meta.get_field("config_token").to_python(token)


def _wait(now: datetime) -> int:
    """Seconds until the next minute's window opens (at least one)."""
    window = now.replace(second=0, microsecond=0)
    return max(1, int((window + timedelta(minutes=1) - now).total_seconds() + 0.999))
