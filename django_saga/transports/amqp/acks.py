"""Acks merged: those asked for during one dispatch, sent as few frames as can
be without settling a delivery that is still being worked on."""

from __future__ import annotations

import bisect


def merged(tags: list[int], lowest_unsettled: int | None) -> list[tuple[int, bool]]:
    """The ``(delivery tag, multiple)`` acks that settle ``tags`` (sorted): one
    ``multiple`` ack for those below every delivery still unsettled, one each
    for the rest.

    A ``multiple`` ack covers every unsettled tag up to its own, so it must
    not reach past a delivery still being worked on, nor one held back until
    the dead-letter queue confirms it (``lowest_unsettled``: the lowest such
    tag, None if there is none).
    """
    below = len(tags) if lowest_unsettled is None else bisect.bisect_left(tags, lowest_unsettled)
    acks = [(tags[below - 1], below > 1)] if below else []
    return acks + [(tag, False) for tag in tags[below:]]
