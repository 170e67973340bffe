"""Who is calling: the client address as the proxies in front of Django saw it."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    """The address `NUM_PROXIES` hops from the right of X-Forwarded-For (the one Nginx appended), or the
    socket's peer without a proxy. The same rule as DRF's throttles, so one client is one client everywhere."""
    remote = request.META.get("REMOTE_ADDR", "")
    num_proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if not forwarded or not num_proxies:
        return remote
    hops = forwarded.split(",")
    return hops[-min(num_proxies, len(hops))].strip()


def address_allowed(address: str, allowed: Iterable[str]) -> bool:
    """True when `address` is one of `allowed`, each an address or a network (`10.0.0.0/8`)."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    for entry in allowed:
        try:
            if ip in ipaddress.ip_network(entry.strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


def request_from_allowed(request: HttpRequest, allowed: Iterable[str]) -> bool:
    """Both the socket's peer (a proxy, or the client itself) and the client it speaks for must be allowed,
    so a client that reaches a web instance directly cannot pass by writing X-Forwarded-For."""
    allowed = list(allowed)
    remote = request.META.get("REMOTE_ADDR", "")
    return address_allowed(remote, allowed) and address_allowed(client_address(request), allowed)
