"""The client address behind a reverse proxy: X-Forwarded-For, believed only from TRUSTED_PROXIES.

gunicorn sets REMOTE_ADDR to the socket's peer and never reads X-Forwarded-For, so behind nginx
the operation log would record the proxy's address for every call. werkzeug's ProxyFix counts
hops instead of checking who sent the header: a service also reachable directly (a pod's port,
BIND=0.0.0.0) would record whatever a client wrote. Here the header counts only when the peer
is a trusted proxy, and the client is the rightmost address no trusted proxy owns: a client's
own X-Forwarded-For, which the proxy appends to, is never taken for its address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from flask import Flask

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Where the socket's peer is kept once REMOTE_ADDR names the client (as ProxyFix keeps its own).
PEER_ADDR_KEY = "migrateway.peer_addr"


def _address(text: str) -> IpAddress | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # A dual-stack socket ([::]) reports an IPv4 peer as ::ffff:a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def client_address(peer: str, forwarded_for: str | None, trusted: Iterable[IpNetwork]) -> str:
    """The client's address: ``peer`` unless it is a trusted proxy, else the rightmost address
    of ``forwarded_for`` that is not one (the leftmost if all are). An entry that is not an IP
    address ends the walk: what lies left of it was written by no proxy we trust."""
    networks = tuple(trusted)

    def is_trusted(address: IpAddress) -> bool:
        return any(address in network for network in networks)

    peer_address = _address(peer)
    if peer_address is None or not is_trusted(peer_address) or not forwarded_for:
        return peer
    client = str(peer_address)
    for hop in reversed(forwarded_for.split(",")):
        address = _address(hop)
        if address is None:
            break
        client = str(address)
        if not is_trusted(address):
            break
    return client


class TrustedProxies:
    """WSGI middleware: REMOTE_ADDR becomes the forwarded client's address (see the module)."""

    def __init__(self, wsgi_app, trusted: Iterable[IpNetwork]):
        self.wsgi_app = wsgi_app
        self.trusted = tuple(trusted)

    def __call__(self, environ, start_response):
        peer = environ.get("REMOTE_ADDR", "")
        environ[PEER_ADDR_KEY] = peer
        environ["REMOTE_ADDR"] = client_address(
            peer, environ.get("HTTP_X_FORWARDED_FOR"), self.trusted
        )
        return self.wsgi_app(environ, start_response)


def init_app(app: Flask) -> None:
    """Read X-Forwarded-For from the proxies TRUSTED_PROXIES names; with none, nothing changes."""
    trusted = app.config.get("TRUSTED_PROXIES") or ()
    if trusted:
        app.wsgi_app = TrustedProxies(app.wsgi_app, trusted)
