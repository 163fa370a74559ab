"""django_saga.routers: the console's reads sent to a replica, and nothing else."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth.models import User
from django.db import router

from django_saga.models import OutboxMessage, Saga, SagaStep
from django_saga.routers import ROUTER_PATH, ConsoleReadRouter, console_reads, router_installed


@pytest.fixture
def installed(settings) -> None:
    settings.DATABASE_ROUTERS = [ROUTER_PATH]


def test_outside_the_consoles_reads_the_router_has_no_say():
    assert ConsoleReadRouter().db_for_read(Saga) is None


def test_the_consoles_reads_of_saga_models_go_to_the_alias_and_only_within_the_block():
    reader = ConsoleReadRouter()
    with console_reads("replica"):
        assert [reader.db_for_read(m) for m in (Saga, SagaStep, OutboxMessage)] == ["replica"] * 3
        assert reader.db_for_read(User) is None  # another app's model stays where it was
        with console_reads(None):
            assert reader.db_for_read(Saga) is None
        assert reader.db_for_read(Saga) == "replica"
    assert reader.db_for_read(Saga) is None


def test_the_block_ends_its_routing_even_when_it_raises():
    with pytest.raises(RuntimeError), console_reads("replica"):
        raise RuntimeError("page failed")
    assert ConsoleReadRouter().db_for_read(Saga) is None


def test_writes_stay_on_the_primary_inside_the_consoles_reads(installed):
    with console_reads("replica"):
        assert router.db_for_read(Saga) == "replica"
        assert router.db_for_write(Saga) == "default"


def test_another_thread_reads_the_primary_while_a_page_reads_the_replica(installed):
    seen: list[str] = []
    with console_reads("replica"):
        other = threading.Thread(target=lambda: seen.append(router.db_for_read(Saga)))
        other.start()
        other.join()
    assert seen == ["default"]


class Elsewhere:
    """A project's own router, with no say on anything."""


def test_router_installed_reads_database_routers(settings):
    settings.DATABASE_ROUTERS = [f"{__name__}.Elsewhere"]
    assert not router_installed()
    settings.DATABASE_ROUTERS = [f"{__name__}.Elsewhere", ROUTER_PATH]
    assert router_installed()
