"""JSON an operator hands over (a form field, an API body, a file), read or refused in a sentence.

One reader for every door, so that each refuses the same texts in the same
words: text that is not JSON, and JSON nested so deep that the parser itself
gives up (Python's reader recurses once per level and raises
``RecursionError`` somewhere near a thousand). A value that reads but is
nested deeper than ``SAGA['MAX_JSON_DEPTH']`` is refused later, with the
other limits, by the library's validation.
"""

from __future__ import annotations

import json
from typing import Any

from ..conf import saga_settings


class UnreadableJSON(ValueError):
    """Text that cannot be read as JSON; the message names it and says why."""


def read_json(text: str | bytes, what: str) -> Any:
    """``text`` read as JSON, or ``UnreadableJSON`` saying why ``what`` cannot be.

    ``what`` begins the sentence: ``"The input"``, ``"--output"``. Bytes are
    decoded as JSON allows (UTF-8, -16 or -32).
    """
    try:
        return json.loads(text)
    except RecursionError:
        raise UnreadableJSON(
            f"{what} is nested too deep to read: JSON may be nested at most "
            f"{saga_settings.MAX_JSON_DEPTH} levels (SAGA['MAX_JSON_DEPTH'])"
        ) from None
    except json.JSONDecodeError as exc:
        raise UnreadableJSON(
            f"{what} is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except ValueError as exc:
        # Bytes in no Unicode encoding, or a number of more digits than Python converts.
        raise UnreadableJSON(f"{what} is not JSON: {exc}") from None
