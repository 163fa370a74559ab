"""The tasks' exchanges: a request that draws each answer the document
lists for them (``helpers`` adds them to the JSON API's)."""

from __future__ import annotations

from typing import Any

from django.test import Client

from tests.unit.console.api_helpers import World, post_json, reason

LIST, ONE = "/api/tasks/", "/api/tasks/{task_id}/"
CLAIM, RELEASE, DELEGATE, COMPLETE, REJECT = (
    f"{ONE}{act}/" for act in ("claim", "release", "delegate", "complete", "reject")
)


def _act(world: World, act: str, body: dict[str, Any], client: Client | None = None) -> Any:
    return post_json(client or world.root, f"/sagas/api/tasks/{world.task}/{act}/", body)


def _clerk(world: World) -> Client:
    assert world.clerk is not None
    return world.clerk


def _on(world: World, which: str, act: str, body: dict[str, Any]) -> Any:
    """``act`` by the clerk on the world's ``claimed`` (by root) or ``closed`` task."""
    task = world.claimed_task if which == "claimed" else world.closed_task
    return post_json(_clerk(world), f"/sagas/api/tasks/{task}/{act}/", body)


TASK_EXCHANGES: list[tuple[Any, ...]] = [
    ("tasks", LIST, "get", 200, None, lambda w: _clerk(w).get("/sagas/api/tasks/")),
    ("tasks-all", LIST, "get", 200, None, lambda w: w.root.get("/sagas/api/tasks/?box=all")),
    (
        "tasks-bad-box",
        LIST,
        "get",
        400,
        "bad_request",
        lambda w: _clerk(w).get("/sagas/api/tasks/?box=all"),
    ),
    ("task", ONE, "get", 200, None, lambda w: _clerk(w).get(f"/sagas/api/tasks/{w.task}/")),
    (
        "task-not-offered",
        ONE,
        "get",
        403,
        "not_offered",
        lambda w: w.viewer.get(f"/sagas/api/tasks/{w.task}/"),
    ),
    ("claim-task", CLAIM, "post", 200, None, lambda w: _act(w, "claim", {}, _clerk(w))),
    (
        "claim-task-bad-body",
        CLAIM,
        "post",
        400,
        "bad_request",
        lambda w: _act(w, "claim", {"to": "x"}, _clerk(w)),
    ),
    (
        "claim-task-claimed",
        CLAIM,
        "post",
        403,
        "not_allowed",
        lambda w: _on(w, "claimed", "claim", {}),
    ),
    (
        "claim-task-closed",
        CLAIM,
        "post",
        409,
        "task_closed",
        lambda w: _on(w, "closed", "claim", {}),
    ),
    (
        "release-task",
        RELEASE,
        "post",
        200,
        None,
        lambda w: post_json(w.root, f"/sagas/api/tasks/{w.claimed_task}/release/", reason()),
    ),
    (
        "release-task-bad-body",
        RELEASE,
        "post",
        400,
        "bad_request",
        lambda w: _act(w, "release", {"x": 1}),
    ),
    (
        "release-task-not-claimed",
        RELEASE,
        "post",
        403,
        "not_allowed",
        lambda w: _act(w, "release", {}, _clerk(w)),
    ),
    (
        "release-task-closed",
        RELEASE,
        "post",
        409,
        "task_closed",
        lambda w: _on(w, "closed", "release", {}),
    ),
    (
        "delegate-task",
        DELEGATE,
        "post",
        200,
        None,
        lambda w: _act(w, "delegate", {"to": "clerk", **reason()}),
    ),
    (
        "delegate-task-to-nobody",
        DELEGATE,
        "post",
        400,
        "bad_request",
        lambda w: _act(w, "delegate", {"to": "nobody", **reason()}),
    ),
    (
        "delegate-task-claimed",
        DELEGATE,
        "post",
        403,
        "not_allowed",
        lambda w: _on(w, "claimed", "delegate", {"to": "clerk", **reason()}),
    ),
    (
        "delegate-task-closed",
        DELEGATE,
        "post",
        409,
        "task_closed",
        lambda w: _on(w, "closed", "delegate", {"to": "clerk", **reason()}),
    ),
    (
        "complete-task",
        COMPLETE,
        "post",
        200,
        None,
        lambda w: _act(w, "complete", {"data": {"amount": "12.50"}}, _clerk(w)),
    ),
    (
        "complete-task-invalid",
        COMPLETE,
        "post",
        400,
        "invalid_form",
        lambda w: _act(w, "complete", {"data": {"amount": "-1"}}, _clerk(w)),
    ),
    (
        "complete-task-claimed",
        COMPLETE,
        "post",
        403,
        "not_allowed",
        lambda w: _on(w, "claimed", "complete", {"data": {"amount": "1"}}),
    ),
    (
        "complete-task-closed",
        COMPLETE,
        "post",
        409,
        "task_closed",
        lambda w: _on(w, "closed", "complete", {"data": {"amount": "5"}}),
    ),
    ("reject-task", REJECT, "post", 200, None, lambda w: _act(w, "reject", reason(), _clerk(w))),
    ("reject-task-no-reason", REJECT, "post", 400, "bad_request", lambda w: _act(w, "reject", {})),
    (
        "reject-task-claimed",
        REJECT,
        "post",
        403,
        "not_allowed",
        lambda w: _on(w, "claimed", "reject", reason()),
    ),
    (
        "reject-task-closed",
        REJECT,
        "post",
        409,
        "task_closed",
        lambda w: _on(w, "closed", "reject", reason()),
    ),
]
