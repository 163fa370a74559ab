"""The time django-saga reads. Tests replace ``now`` to move time without sleeping."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    return timezone.now()
