"""The further rules of particular settings (``Setting.rule``): what a type and
bounds cannot say, such as a broker URL's scheme or a database alias that exists.

Each takes the value and returns what is wrong with it, or None.
"""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings as django_settings

from ..errors import brief
from .broker import broker_urls, safe_url, url_port_problem


def broker_url(value: str | list[str] | tuple[str, ...]) -> str | None:
    if isinstance(value, list | tuple) and not all(isinstance(v, str) for v in value):
        return "must hold strings only"
    urls = broker_urls(value)
    if not urls:
        return "must not be empty"
    if len(urls) > 1 and any(url.startswith("memory://") for url in urls):
        return "memory:// names one in-process broker: it cannot be listed with others"
    for url in urls:
        if not url.startswith(("amqp://", "amqps://", "memory://")):
            return "must start with amqp://, amqps:// or memory://" + (
                f" (not {safe_url(url)!r})" if len(urls) > 1 else ""
            )
        if problem := url_port_problem(url):
            return problem
    return None


def database_alias(alias: str | None) -> str | None:
    if alias is not None and alias not in django_settings.DATABASES:
        return "must name a database in DATABASES"
    return None


def exception_paths(paths: list[str] | tuple[str, ...]) -> str | None:
    problems = [
        f"entry {brief(path)} {problem}"
        for path in paths
        if (problem := _exception_path(path)) is not None
    ]
    return "; ".join(problems) or None


def secret_list(value: str | list[str] | tuple[str, ...]) -> str | None:
    if isinstance(value, list | tuple) and not all(isinstance(v, str) for v in value):
        return "must hold strings only"
    return None


def token(value: str) -> str | None:
    if any(char.isspace() or not char.isprintable() for char in value):
        return (
            "must hold no spaces or control characters: it is sent in an HTTP header, "
            "which trims or refuses them"
        )
    return None


def finite(value: float | None) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number of seconds (None keeps everything)"
    return None


def _exception_path(path: Any) -> str | None:
    from django.utils.module_loading import import_string

    if not isinstance(path, str):
        return "must be a dotted path string"
    try:
        found = import_string(path)
    except ImportError as exc:
        return f"cannot be imported ({exc})"
    if not (isinstance(found, type) and issubclass(found, BaseException)):
        return "is not an exception class"
    return None
