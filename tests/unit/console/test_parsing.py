"""JSON an operator hands over, read or refused in a sentence that names it."""

from __future__ import annotations

import pytest

from django_saga.console.parsing import UnreadableJSON, read_json


def test_json_is_read_from_text_or_from_bytes_in_any_unicode_encoding():
    assert read_json('{"ok": true, "n": [1, 2.5]}', "The input") == {"ok": True, "n": [1, 2.5]}
    assert read_json('{"city": "Orléans"}'.encode("utf-16"), "The body") == {"city": "Orléans"}
    assert read_json("null", "The output") is None


def test_text_that_is_not_json_is_refused_saying_where():
    with pytest.raises(UnreadableJSON) as refused:
        read_json('{"ok": tru}', "--output")
    assert str(refused.value) == "--output is not JSON: Expecting value (line 1, column 8)"


def test_json_nested_deeper_than_the_reader_follows_is_refused_naming_the_setting(settings):
    settings.SAGA = {**settings.SAGA, "MAX_JSON_DEPTH": 20}
    with pytest.raises(UnreadableJSON) as refused:
        read_json("[" * 100_000 + "]" * 100_000, "The input")
    assert str(refused.value) == (
        "The input is nested too deep to read: JSON may be nested at most "
        "20 levels (SAGA['MAX_JSON_DEPTH'])"
    )


@pytest.mark.parametrize(
    "text",
    [b"\xff\xfe\xfd\xfc\x00", "1" * 5000],
    ids=["bytes-in-no-unicode-encoding", "more-digits-than-python-converts"],
)
def test_what_json_reads_but_python_cannot_is_refused_too(text):
    with pytest.raises(UnreadableJSON, match=r"^The body is not JSON: "):
        read_json(text, "The body")
