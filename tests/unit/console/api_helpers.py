"""Callers of the console's JSON API: API tokens made as ``manage.py saga token
create`` makes them."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command


def saga(*args: str) -> tuple[str, str]:
    """``manage.py saga ARGS`` in this process: what it printed on stdout and stderr."""
    out, err = StringIO(), StringIO()
    call_command("saga", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def create_token(username: str, name: str = "deploys") -> str:
    out, _ = saga("token", "create", "--user", username, "--name", name)
    return out.strip()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
