"""Fixtures of the unit tests: the per-store fixture is shared with the in-process tests."""

from tests.in_process.conftest import store  # noqa: F401  (one test runs on each store)
