"""django_saga.conf.broker: BROKER_URL's list of URLs, and each URL with its password masked."""

from __future__ import annotations

import pytest

from django_saga.conf import broker_urls, safe_url, saga_settings
from tests.unit.conf.helpers import CLUSTER, saga


@pytest.mark.parametrize(
    "value",
    [CLUSTER, tuple(CLUSTER), " ".join(CLUSTER), "\n  ".join(CLUSTER)],
    ids=["list", "tuple", "spaces", "lines"],
)
def test_broker_url_may_name_the_nodes_of_a_cluster(settings, value):
    saga(settings, BROKER_URL=value)
    assert saga_settings.validate() == []
    assert broker_urls(saga_settings.BROKER_URL) == CLUSTER


def test_safe_url_masks_each_listed_url():
    urls = ["amqp://u:p1@mq1/%2F", "amqp://mq2/%2F", "amqps://u:p3@mq3/%2F"]
    expected = "amqp://u:***@mq1/%2F amqp://mq2/%2F amqps://u:***@mq3/%2F"
    assert safe_url(urls) == expected
    assert safe_url(" ".join(urls)) == expected


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("amqp://saga:s3cr3t/pa55@mq/vhost", "amqp://***@mq/vhost"),
        ("amqp://saga:s3cr?pa55@mq/vhost", "amqp://***@mq/vhost"),
        ("amqp://saga:s3cr#pa55@mq/vhost", "amqp://***@mq/vhost"),
        ("amqps://saga:s3cr3t@pa55@mq:5671/vhost", "amqps://saga:***@mq:5671/vhost"),
        ("amqp://saga:s3cr3t pa55@mq/vhost", "amqp://saga:*** ***@mq/vhost"),
        ("amqp://saga:s3cr3t/pa55", "amqp://saga:***"),
        ("saga:s3cr3t/pa55@mq/vhost", "***@mq/vhost"),
    ],
    ids=["slash", "question-mark", "hash", "at", "space", "no-host", "no-scheme"],
)
def test_safe_url_shows_no_part_of_a_password_whatever_it_holds(url, masked):
    assert safe_url(url) == masked
    assert "s3cr" not in safe_url(url) and "pa55" not in safe_url(url)


@pytest.mark.parametrize(
    "url",
    ["amqp://saga:s3cr3t/pa55@mq/vhost", "amqp://saga:s3cr?pa55@mq/vhost"],
    ids=["slash", "question-mark"],
)
def test_a_password_that_needs_percent_encoding_is_named_not_shown(settings, url):
    saga(settings, BROKER_URL=url)
    [problem] = saga_settings.validate()
    assert problem == (
        "SAGA['BROKER_URL'] = 'amqp://***@mq/vhost': its user name or password holds "
        "/, ? or #, which end a URL's host: write them percent-encoded (%2F, %3F, %23)"
    )


def test_a_port_that_is_no_number_is_named_without_urllibs_words(settings):
    saga(settings, BROKER_URL="amqp://saga:s3cr3t@mq:pa55/vhost")
    assert saga_settings.validate() == [
        "SAGA['BROKER_URL'] = 'amqp://saga:***@mq:pa55/vhost': its port is not a number "
        "from 1 to 65535"
    ]
