"""``BROKER_URL`` read and masked: its list of URLs, and each URL with its
password hidden, for checks, logs and error messages.

A URL is read by hand here, never by a URL parser where a password could be
shown: no URL can make these fail or quote it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

#: The characters that end a URL's authority (its user, password, host and port).
_AUTHORITY_END = re.compile(r"[/?#]")
_PORT = re.compile(r"[0-9]*")


def broker_urls(value: str | Sequence[str]) -> list[str]:
    """The URLs of ``BROKER_URL``: a list or tuple of them, or one string of
    URLs separated by spaces (a URL holds no space: ``%20`` stands for one)."""
    if isinstance(value, str):
        return value.split()
    return [url for entry in value for url in entry.split()]


def strings(value: Any) -> list[str]:
    """The strings of a setting's value: itself, or those of its list or tuple."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []


def safe_url(url: str | Sequence[str]) -> str:
    """``url`` with its password masked, for checks, logs and error messages
    (several URLs are masked each, and separated by spaces).

    Read by hand, never by a URL parser, so that no URL can make it fail or
    show a password: when the part before the last ``@`` cannot be told from
    a host and a path (a password holding ``/``, ``?`` or ``#``, or no
    scheme), all of it is masked; a URL cut at a space (a password holding
    one) loses what could be a password on both sides of the cut.
    """
    if not isinstance(url, str):
        return " ".join(safe_url(u) for u in url)
    if len(parts := url.split()) > 1:
        return " ".join(safe_url(u) for u in parts)
    scheme, sep, rest = url.partition("://")
    prefix = scheme + sep if sep else ""
    if not sep:
        rest = url
    credentials, at, after = rest.rpartition("@")
    if not at:
        return prefix + _masked_port(rest)
    if sep and _AUTHORITY_END.search(credentials) is None:
        user, colon, _ = credentials.partition(":")
        return f"{prefix}{user}{':***' if colon else ''}@{after}"
    return f"{prefix}***@{after}"


def _masked_port(rest: str) -> str:
    """``rest`` (a URL after ``://``, with no ``@``) masked from a port that is
    no number on: ``saga:s3cr3t/pa55`` may be what is left of ``user:password``."""
    end = match.start() if (match := _AUTHORITY_END.search(rest)) else len(rest)
    netloc = rest[:end]
    host, colon, port = netloc.rpartition(":")
    if not colon or netloc.endswith("]") or _PORT.fullmatch(port):
        return rest
    return f"{host}:***"


def url_password(url: str) -> bool:
    """Whether ``url`` may carry a password: a ``:`` before its last ``@``."""
    rest = url.partition("://")[2]
    return ":" in rest.rpartition("@")[0]


def url_port_problem(url: str) -> str | None:
    """What keeps ``url``'s host and port from being read, in words that quote
    none of it (urllib's errors quote the URL, a password included)."""
    from urllib.parse import urlsplit

    if _AUTHORITY_END.search(url.partition("://")[2].rpartition("@")[0]):
        return (
            "its user name or password holds /, ? or #, which end a URL's host: "
            "write them percent-encoded (%2F, %3F, %23)"
        )
    try:
        port = urlsplit(url).port
    except ValueError as exc:
        if "IPv6" in str(exc):
            return "its host is not a valid IPv6 address in brackets"
        return "its port is not a number from 1 to 65535"
    return None if port is None or port > 0 else "its port must not be 0"
