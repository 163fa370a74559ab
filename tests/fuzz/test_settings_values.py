"""Settings values, whatever a project writes in ``SAGA``.

The system check turns every bad value into a message naming its key (and
never a secret); it never raises itself. A value the check accepts is one
the code can use: the setting reads back as given.
"""

from __future__ import annotations

from django.test import override_settings
from hypothesis import event, given
from hypothesis import strategies as st

from django_saga.conf import BY_NAME, SETTINGS, saga_settings
from tests.fuzz.strategies import EXAMPLES, anything, numbers, odd_text

#: Broker URLs whose password holds this, among characters a URL may not hold as they are.
PASSWORD = "pw-s3cr3t"
broker_urls = st.builds(
    lambda scheme, extra, rest: f"{scheme}://saga:{PASSWORD}{extra}@{rest}",
    st.sampled_from(["amqp", "amqps", "memory", "http", ""]),
    st.sampled_from(["", "/", "?", "#", "/x?y#z", "%", "%zz", "@", ":"]),
    st.sampled_from(["host/vhost", "host:99999/v", "[::1/v", "h:-1/", "h/%2F"]),
)
values = (
    numbers
    | odd_text
    | anything
    | st.booleans()
    | st.lists(odd_text | numbers | broker_urls, max_size=3)
    | broker_urls
)


@EXAMPLES
@given(
    chosen=st.dictionaries(st.sampled_from([s.name for s in SETTINGS]), values, max_size=4),
    unknown=st.dictionaries(
        odd_text | anything.filter(lambda v: v.__hash__ is not None), values, max_size=2
    ),
)
def test_the_check_names_each_bad_value_and_never_raises(chosen, unknown):
    raw = {**unknown, **chosen}
    for name in chosen:
        if BY_NAME[name].secret and isinstance(chosen[name], str):
            raw[name] = "hunter2-secret" + chosen[name]
    with override_settings(SAGA=raw):
        problems = saga_settings.validate()
        accepted = {
            name: getattr(saga_settings, name) for name in chosen if not _named(name, problems)
        }
    assert all(isinstance(p, str) and p for p in problems)
    for problem in problems:
        assert "hunter2-secret" not in problem, problem
    url = chosen.get("BROKER_URL")
    if isinstance(url, str) and f"://saga:{PASSWORD}" in url:
        # A password written in a URL is masked, whatever else the URL holds.
        about_url = [p for p in problems if p.startswith("SAGA['BROKER_URL']")]
        assert not any(PASSWORD in problem for problem in about_url), about_url
    for name in chosen:
        if name in accepted:
            event(f"{name}: accepted")
            assert accepted[name] == raw[name]
        else:
            event(f"{name}: refused")


def _named(name: str, problems: list[str]) -> bool:
    return any(f"SAGA[{name!r}]" in problem for problem in problems)
