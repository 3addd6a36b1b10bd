"""Error pages (graceful degradation) and the sysctl file every load-balancer node needs."""

from __future__ import annotations

from functools import lru_cache
from http import HTTPStatus

from hakit.render.environment import render
from hakit.spec.proxy import DEFAULT_ERROR_PAGES, Proxy

_DEFAULT_TEXT = {
    429: "Too many requests from your address. Please slow down and retry in a few seconds.",
    502: "The service is temporarily unavailable. Please retry in a moment.",
    503: "The service is temporarily unavailable. Please retry in a moment.",
    504: "The service took too long to answer. Please retry in a moment.",
}


def error_page_statuses(proxy: Proxy) -> list[int]:
    """The statuses that get a page: the built-in ones plus those the inventory customizes."""
    return sorted(set(DEFAULT_ERROR_PAGES) | set(proxy.error_pages))


@lru_cache(maxsize=1024)
def error_page(status: int, custom: str | None) -> str:
    """The HTML page for `status` (`custom` body, else the built-in text); cached: fleets share pages."""
    text = _DEFAULT_TEXT.get(status, HTTPStatus(status).phrase)
    return render(
        "nginx/error_page.html.j2",
        status=status,
        reason=HTTPStatus(status).phrase,
        body=custom if custom is not None else f"<p>{text}</p>",
    )


def error_page_bodies(proxy: Proxy, source: str) -> dict[int, str]:
    """Status -> HTML body: the inventory's pages, else the built-in ones for 429/502/503/504.

    `source` is not used: the pages are public, and the inventory's name or path is nobody's business
    there (a `-->` in it would also end the HTML comment).
    """
    pages = proxy.error_pages
    return {status: error_page(status, pages.get(status)) for status in error_page_statuses(proxy)}


@lru_cache(maxsize=1024)
def http_error_file(status: int, html: str) -> str:
    """A raw HTTP/1.0 response for HAProxy's `errorfile` (CRLF headers, exact Content-Length)."""
    body = html.encode("utf-8")
    head = [
        f"HTTP/1.0 {status} {HTTPStatus(status).phrase}",
        "Cache-Control: no-cache",
        "Connection: close",
        "Content-Type: text/html; charset=utf-8",
        f"Content-Length: {len(body)}",
    ]
    if status in (429, 503):
        head.append("Retry-After: 5")
    return "\r\n".join(head) + "\r\n\r\n" + html


SYSCTL_HA = """{header}
# The proxies bind the VIPs on every node, before (and whether or not) keepalived assigns them.
net.ipv4.ip_nonlocal_bind = 1
net.ipv6.ip_nonlocal_bind = 1
"""
"""The sysctl drop-in of a load-balancer node."""
