"""How the check's messages show a setting: its value with secrets hidden and
URLs masked, and a key that is no setting with the settings it resembles."""

from __future__ import annotations

import difflib
from typing import Any

from ..errors import brief
from .broker import safe_url
from .declarations import BY_NAME, SECRET_SETTINGS

#: Where a key that resembles no setting is sent: the table of every setting.
SETTINGS_REFERENCE = "docs/reference/settings.md"


def shown(key: str, value: Any) -> str:
    """A setting's value as messages may show it: secrets hidden, URLs masked."""
    if key in SECRET_SETTINGS:
        return f"<hidden {type(value).__name__}>"
    if key == "BROKER_URL" and isinstance(value, str):
        return repr(safe_url(value))
    if key == "BROKER_URL" and isinstance(value, list | tuple):
        return brief(type(value)(safe_url(v) if isinstance(v, str) else v for v in value))
    return brief(value)


def unknown_key(key: Any) -> str:
    """The check's message for a key of ``SAGA`` that is no setting: the settings
    it most resembles, or, when none is close, where they are all listed."""
    suggestion = nearest(key)
    if suggestion:
        return f"SAGA[{brief(key)}] is not a django-saga setting{suggestion}"
    return (
        f"SAGA[{brief(key)}] is not a django-saga setting, nor close to one "
        f"(the settings reference, {SETTINGS_REFERENCE}, lists them all)"
    )


def nearest(key: Any) -> str:
    """``: did you mean 'X'?`` naming the settings closest to ``key`` (a wrong
    case is no typo: that setting alone), or "" if none is close."""
    if not isinstance(key, str):
        return ""
    upper = key.upper()
    close = [upper] if upper in BY_NAME else difflib.get_close_matches(upper, BY_NAME, n=3)
    if not close:
        return ""
    quoted = [repr(name) for name in close]
    options = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return f": did you mean {options}?"
