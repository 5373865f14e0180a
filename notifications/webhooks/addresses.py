"""Where webhooks may go: public addresses only, checked when an endpoint is saved and again at
every connection.

A manager types the URL, but the requests leave from the server, inside the brokerage's
network: pointed at ``127.0.0.1:5432``, ``[::1]``, ``169.254.169.254`` or
``metadata.google.internal``, a webhook would make the server probe its own database, the
office network or the cloud's metadata service. So a host is resolved and **every** address it
resolves to must be public (not loopback, link-local, private, shared, reserved, multicast or
unspecified); cloud metadata names are refused by name. At send time the connection resolves
the host once, checks every address, and connects to the checked address itself, so a DNS
answer that changes between the check and the connection (DNS rebinding) cannot slip through.

``settings.WEBHOOK_ALLOWED_HOSTS`` lists the hosts (names or addresses) allowed anyway, for a
receiver inside the brokerage's own network (and the tests' receiver on 127.0.0.1). Other
requests the server makes to a URL someone typed (the agents' away calendars) use the same
guard with their own setting (``setting=``).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import urllib.request
from functools import partial
from urllib.parse import urlsplit

from django.conf import settings

#: Cloud metadata services, refused by name whatever they resolve to.
METADATA_HOSTS = frozenset({
    "metadata", "metadata.google.internal", "metadata.goog", "instance-data",
    "instance-data.ec2.internal", "metadata.azure.internal", "metadata.tencentyun.com",
})


#: The setting naming the hosts webhooks may reach although they are not public.
WEBHOOK_SETTING = "WEBHOOK_ALLOWED_HOSTS"


class RefusedAddress(OSError):
    """The host is not a public address (and not in the setting's allowed hosts)."""


def allowed_hosts(setting: str = WEBHOOK_SETTING) -> frozenset[str]:
    return frozenset(h.strip().lower().strip("[]")
                     for h in getattr(settings, setting, ()) if h.strip())


def _normal(host: str) -> str:
    return host.strip().lower().rstrip(".").strip("[]")


def is_allowed(host: str, setting: str = WEBHOOK_SETTING) -> bool:
    return _normal(host) in allowed_hosts(setting)


def refusal(address: str) -> str | None:
    """Why this IP address may not receive webhooks; None when it is public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone index is not the address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata)"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private or ip.is_reserved or ip.is_unspecified or not ip.is_global:
        return "a private or reserved address"
    return None


def resolve(host: str, port: int) -> list[str]:
    """Every address the host resolves to (TCP), in the resolver's order."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise RefusedAddress(f"the host {host} could not be found") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def checked_addresses(host: str, port: int, *, setting: str = WEBHOOK_SETTING) -> list[str]:
    """Resolve the host and check every address; raises RefusedAddress naming the reason.

    A host in the setting's allowed hosts (WEBHOOK_ALLOWED_HOSTS) is resolved without checks."""
    name = _normal(host)
    if not name:
        raise RefusedAddress("the URL has no host")
    allowed = is_allowed(name, setting)
    if not allowed and (name in METADATA_HOSTS or name.endswith(".internal")):
        raise RefusedAddress(f"{host} is a cloud metadata or internal name")
    addresses = resolve(name, port)
    if not addresses:
        raise RefusedAddress(f"the host {host} could not be found")
    if not allowed:
        for address in addresses:
            why = refusal(address)
            if why:
                raise RefusedAddress(f"{host} is {why} ({address})" if address != name
                                     else f"{host} is {why}")
    return addresses


def check_url(url: str, *, setting: str = WEBHOOK_SETTING) -> None:
    """Raise RefusedAddress when the URL's host may not be reached (for the admin form)."""
    parts = urlsplit(url)
    if is_allowed(parts.hostname or "", setting):
        return  # may not resolve from where the admin runs; checked nowhere else either
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise RefusedAddress("the URL's port is not a number") from exc
    checked_addresses(parts.hostname or "", port, setting=setting)


def _connect(address: tuple[str, int], timeout: float | object = socket._GLOBAL_DEFAULT_TIMEOUT,
             source_address: tuple[str, int] | None = None, *,
             setting: str = WEBHOOK_SETTING) -> socket.socket:
    """``socket.create_connection`` to a checked address: resolve once, check every address,
    connect only to those checked (never resolving again)."""
    host, port = address
    error: OSError | None = None
    for ip in checked_addresses(host, port, setting=setting):
        try:
            return socket.create_connection((ip, port), timeout, source_address)
        except OSError as exc:
            error = exc
    raise error or RefusedAddress(f"the host {host} could not be found")


class GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, setting: str = WEBHOOK_SETTING, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = partial(_connect, setting=setting)


class GuardedHTTPSConnection(http.client.HTTPSConnection):
    """TLS still checks the certificate against the URL's host name (SNI): only the TCP
    connection goes to the checked address."""

    def __init__(self, *args, setting: str = WEBHOOK_SETTING, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = partial(_connect, setting=setting)


class GuardedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, *args, setting: str = WEBHOOK_SETTING, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.setting = setting

    def http_open(self, req):
        return self.do_open(GuardedHTTPConnection, req, setting=self.setting)


class GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, *args, setting: str = WEBHOOK_SETTING, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.setting = setting

    def https_open(self, req):
        return self.do_open(GuardedHTTPSConnection, req, context=self._context,
                            setting=self.setting)
