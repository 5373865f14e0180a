"""Who subscribes to which event, read once per routing snapshot.

Routing pays no query for webhooks while nobody subscribes: the endpoint list is cached and
kept as long as the routing configuration's token, which every endpoint change renews
(``endpoints_changed``, connected by ``NotificationsConfig.ready``).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from notifications.models import WebhookEndpoint, WebhookEvent
from routing.engine import RoutingConfig
from routing.models import Brokerage

Subscribers = Mapping[str, tuple[int, ...]]

# The last endpoint lists read: for a routing snapshot (the same object while the configuration
# is unchanged), and for a configuration token (callers without a snapshot).
_by_snapshot: tuple[RoutingConfig, Subscribers] | None = None
_by_token: tuple[uuid.UUID, Subscribers] | None = None


def subscribers(config: RoutingConfig | None = None) -> Subscribers:
    """The active endpoints (ids) of each event.

    With the caller's routing snapshot: no query while it is current. Without one: one query,
    for the configuration's token. Any save or delete of an endpoint renews the token, so every
    process sees the change at its next routing read.
    """
    global _by_snapshot, _by_token
    if config is not None:
        cached = _by_snapshot
        if cached is not None and cached[0] is config:
            return cached[1]
        result = _read()
        _by_snapshot = (config, result)
        return result
    token = Brokerage.load().config_token
    known = _by_token
    if known is not None and known[0] == token:
        return known[1]
    result = _read()
    _by_token = (token, result)
    return result


def wanted(event: str, config: RoutingConfig | None = None) -> bool:
    """Whether any active endpoint subscribes to the event (to skip work nobody needs)."""
    return bool(subscribers(config).get(event))


def endpoints_changed(**_: Any) -> None:
    """An endpoint was saved or deleted: renew the configuration's token, so the cached
    subscriber lists expire everywhere."""
    Brokerage.bump_config_token()


def _read() -> Subscribers:
    """One query: each event's active endpoints, oldest first."""
    by_event: dict[str, list[int]] = defaultdict(list)
    for pk, events in WebhookEndpoint.objects.filter(active=True).order_by("pk").values_list(
            "pk", "events"):
        for event in dict.fromkeys(events or ()):
            if event in WebhookEvent.values:
                by_event[event].append(pk)
    return {event: tuple(ids) for event, ids in by_event.items()}
