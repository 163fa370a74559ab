"""``saga_settings``: the values of ``SAGA``, read on every access with the
declared defaults, and checked against the declarations.

Values are looked up on every access, so ``override_settings`` and the pytest
``settings`` fixture take effect at once. ``validate()`` backs the system check.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings

from ..errors import brief
from .broker import strings, url_password
from .declarations import BY_NAME, DEFAULTS, SETTINGS
from .wording import nearest, shown, unknown_key


class SagaSettings:
    """Attribute access to ``settings.SAGA`` with defaults, read lazily."""

    def _user(self) -> dict[str, Any]:
        value = getattr(django_settings, "SAGA", None) or {}
        return value if isinstance(value, dict) else {}

    def __getattr__(self, name: str) -> Any:
        if name not in BY_NAME:
            raise AttributeError(f"Unknown django-saga setting SAGA[{brief(name)}]{nearest(name)}")
        return self._user().get(name, BY_NAME[name].default)

    def problem_with(self, name: str) -> str | None:
        """What is wrong with ``SAGA[name]`` now, worded as the check words it
        (None if nothing): for code whose safety rests on a setting, which must
        refuse to work rather than work unchecked when the value is bad."""
        value = getattr(self, name)
        problem = BY_NAME[name].problem(value)
        return None if problem is None else f"SAGA[{name!r}] = {shown(name, value)}: {problem}"

    def validate(self) -> list[str]:
        """Return one message per bad value; an empty list means all is well."""
        raw = getattr(django_settings, "SAGA", None)
        if raw is not None and not isinstance(raw, dict):
            return [f"SAGA must be a dict, got {type(raw).__name__}"]
        user = raw or {}
        problems = [unknown_key(key) for key in user if key not in BY_NAME]
        for setting in SETTINGS:
            value = user.get(setting.name, setting.default)
            problem = setting.problem(value)
            if problem:
                problems.append(f"SAGA[{setting.name!r}] = {shown(setting.name, value)}: {problem}")
        url = user.get("BROKER_URL", DEFAULTS["BROKER_URL"])
        if user.get("BROKER_PASSWORD") and any(url_password(u) for u in strings(url)):
            problems.append(
                "SAGA['BROKER_PASSWORD'] is set and SAGA['BROKER_URL'] holds a password too: "
                "give it in one place (BROKER_PASSWORD keeps it off Django's error pages)"
            )
        return problems


saga_settings = SagaSettings()
