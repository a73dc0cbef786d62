"""KafkaStore's ``client_options``: SASL against tansu with ``--authentication``, TLS through a TLS proxy.

What tansu 0.6.0 (the broker here) can do, and so what is tested:

- SASL: it offers SCRAM-SHA-256 and SCRAM-SHA-512, not PLAIN. With its in-memory storage a user cannot be
  created while authentication is on (``tansu user create`` itself is refused as not authenticated) and
  users do not survive a restart, so no login can succeed here: the tests prove that wrong credentials are
  refused at once with a StoreError saying so, for SCRAM and for PLAIN.
- TLS: its ``--cert`` and ``--key`` flags cannot be given together (the CLI refuses the pair), so it cannot
  serve TLS itself. A TLS proxy (``tests/fixtures/tls.py``) terminates TLS in front of a plain tansu that
  advertises the proxy's port: the client's handshake and certificate checks are real, and every client the
  store makes (admin, producer, consumer) has to use the TLS settings for a save and a load to work.
"""

from __future__ import annotations

import ssl
import time
import uuid
from collections.abc import Iterator

import pytest

from beluga_core.stores import KafkaStore
from beluga_core.stores._base import CredentialsRefused, TlsFailed
from beluga_core.workflow import StoreError
from tests.fixtures._servers import free_port
from tests.fixtures.kafka import KafkaBroker, start_kafka_broker
from tests.fixtures.tls import TestCA, TlsProxy

from .test_store_conformance import make_state


def topic() -> str:
    return f"sec-{uuid.uuid4().hex[:10]}"


def sasl(mechanism: str, password: str) -> dict[str, str]:
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "ops",
        "sasl_plain_password": password,
    }


@pytest.fixture(scope="module")
def auth_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    with start_kafka_broker(tmp_path_factory.mktemp("kafka-auth"), extra_args=["--authentication"]) as b:
        yield b


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("kafka-ca"))


@pytest.fixture(scope="module")
def tls_broker(ca: TestCA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """tansu behind a TLS proxy: ``bootstrap_servers`` is the proxy, and tansu advertises it."""
    proxy_port = free_port()
    log_dir = tmp_path_factory.mktemp("kafka-tls")
    cert = ca.server_cert("kafka")
    with (
        start_kafka_broker(log_dir, advertised_port=proxy_port) as broker,
        TlsProxy(cert, target_port=broker.port, port=proxy_port),
    ):
        yield broker


async def failure(store: KafkaStore) -> tuple[StoreError, float]:
    started = time.monotonic()
    with pytest.raises(StoreError) as caught:
        await store.save(make_state("w"))
    await store.close()
    return caught.value, time.monotonic() - started


# -- validation --


def test_an_unknown_client_option_is_refused_naming_the_valid_ones() -> None:
    with pytest.raises(ValueError) as caught:
        KafkaStore("127.0.0.1:9092", client_options={"sasl_password": "x", "security_protocol": "SSL"})
    message = str(caught.value)
    assert message.startswith("KafkaStore: unknown client_options 'sasl_password'; the options are ")
    assert "sasl_plain_password" in message and "ssl_context" in message


def test_the_stores_own_settings_are_not_client_options() -> None:
    with pytest.raises(ValueError, match="unknown client_options 'bootstrap_servers', 'request_timeout_ms'"):
        KafkaStore(client_options={"bootstrap_servers": "x:1", "request_timeout_ms": 5})


# -- SASL --


async def test_a_wrong_scram_password_is_refused_at_once(auth_broker: KafkaBroker) -> None:
    store = KafkaStore(
        auth_broker.bootstrap_servers, topic=topic(), client_options=sasl("SCRAM-SHA-512", "x")
    )
    error, took = await failure(store)
    assert str(error) == (
        f"kafka/save: connect: {auth_broker.bootstrap_servers} refused the credentials of user 'ops' "
        "(SCRAM-SHA-512 authentication failed)"
    )
    assert isinstance(error.__cause__, CredentialsRefused)
    assert took < 2.0  # not the 10 s timeout


async def test_scram_sha_256_is_refused_the_same_way(auth_broker: KafkaBroker) -> None:
    store = KafkaStore(
        auth_broker.bootstrap_servers, topic=topic(), client_options=sasl("SCRAM-SHA-256", "x")
    )
    error, _ = await failure(store)
    assert "refused the credentials of user 'ops' (SCRAM-SHA-256 authentication failed)" in str(error)


async def test_plain_on_a_broker_without_plain_is_refused_at_once(auth_broker: KafkaBroker) -> None:
    store = KafkaStore(auth_broker.bootstrap_servers, topic=topic(), client_options=sasl("PLAIN", "x"))
    error, took = await failure(store)
    assert str(error) == (
        f"kafka/save: connect: {auth_broker.bootstrap_servers} refused the credentials of user 'ops' "
        "(PLAIN: the broker closed the connection during authentication)"
    )
    assert took < 2.0


# -- TLS --


async def test_tls_settings_reach_the_admin_client_producer_and_consumer(
    tls_broker: KafkaBroker, ca: TestCA
) -> None:
    options = {"security_protocol": "SSL", "ssl_context": ca.client_context()}
    name = topic()
    async with KafkaStore(tls_broker.bootstrap_servers, topic=name, client_options=options) as store:
        await store.save(make_state("over-tls"))  # the admin client made the topic, the producer wrote
    async with KafkaStore(tls_broker.bootstrap_servers, topic=name, client_options=options) as again:
        loaded = await again.load("over-tls")  # the consumer read it back
    assert loaded is not None and loaded.workflow_id == "over-tls"


async def test_tls_with_an_unknown_ca_fails_at_once_naming_the_tls_problem(tls_broker: KafkaBroker) -> None:
    options = {"security_protocol": "SSL", "ssl_context": ssl.create_default_context()}
    error, took = await failure(
        KafkaStore(tls_broker.bootstrap_servers, topic=topic(), client_options=options)
    )
    assert str(error) == (
        f"kafka/save: connect: {tls_broker.bootstrap_servers}: TLS: certificate verify failed: unable to get "
        "local issuer certificate"
    )
    assert isinstance(error.__cause__, TlsFailed)
    assert took < 2.0
