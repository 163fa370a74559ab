"""The text both renderers write: one line of printable text, counts, a step's status."""

from __future__ import annotations

import re

from ..models import StepStatus
from .graph import Node

#: Characters XML 1.0 refuses, and line breaks: a step name is one line of text.
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_BREAKS = re.compile(r"[\t\r\n]+")


def clean(text: str) -> str:
    """``text`` as one line of printable text, fit for XML and for a Mermaid label."""
    return _UNPRINTABLE.sub("\ufffd", _BREAKS.sub(" ", str(text)))


def status_label(node: Node, short: bool = True) -> str:
    """The status and its attempts: in signs to fit a box, in words for Mermaid."""
    label = StepStatus(node.status).label if node.status in StepStatus.values else node.status
    if node.wait_undone:
        label = f"wait failed, {label}" if short else f"{label} after its wait failed"
    if not node.attempts:
        return label
    if short:
        return f"{label} \u00b7 {node.attempts}\u00d7"
    return f"{label}, {plural(node.attempts, 'attempt')}"


def plural(count: int, what: str) -> str:
    """``count`` (thousands separated) and ``what``, plural unless one: "2,981 more stages"."""
    return f"{count:,} {what}{'' if count == 1 else 's'}"
