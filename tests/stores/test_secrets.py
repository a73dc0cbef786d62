"""No store shows a secret: not in its errors (message, chain, traceback), its log records or its repr().

For every store with credentials (NATS and Kafka on real servers, Dapr and Inngest on their stand-ins) a
planted secret is used, a connect/save/load fails, and everything the test can see is scanned for it. The
in-memory and SQLite stores have no credentials.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from beluga_core.stores import DaprStore, InngestStore, KafkaStore, NatsStore
from beluga_core.stores._base import store_errors
from beluga_core.stores._secrets import Secrets, redact_url
from beluga_core.workflow import DefaultExecutor, Signal, StoreError, apply_middleware, with_tracing
from tests.fixtures.kafka import KafkaBroker, start_kafka_broker
from tests.fixtures.nats import NatsServer, start_nats_server
from tests.standins.dapr_standin import DaprStandin
from tests.standins.inngest_standin import InngestStandin

from .test_store_conformance import make_state

SECRET = "planted-S3cret-q7z"


# -- the redaction itself --


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("nats://ops:pw@127.0.0.1:4222", "nats://ops:***@127.0.0.1:4222"),
        ("http://user:p%40ss@host:3500/path", "http://user:***@host:3500/path"),
        ("nats://a:1@h1:4222,nats://b:2@h2:4222", "nats://a:***@h1:4222,nats://b:***@h2:4222"),
        ("nats://127.0.0.1:4222", "nats://127.0.0.1:4222"),
    ],
)
def test_redact_url_hides_the_password_and_keeps_user_host_and_port(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_url_hides_a_bare_token_when_asked() -> None:
    assert redact_url("nats://tok3n@h:4222", bare_user_is_secret=True) == "nats://***@h:4222"
    assert redact_url("http://user@h") == "http://user@h"


def test_scrub_replaces_a_secret_and_its_url_escaped_form() -> None:
    secrets = Secrets(["p@ss/word"])
    assert secrets.scrub("got p@ss/word and p%40ss%2Fword") == "got *** and ***"


async def test_store_errors_scrubs_a_secret_echoed_by_a_library_exception() -> None:
    def library_call() -> None:
        raise ConnectionError(f"login failed for password {SECRET}")

    with pytest.raises(StoreError) as caught:
        async with store_errors("x", "save", "connect", Secrets([SECRET])):
            library_call()
    assert str(caught.value) == "x/save: connect: login failed for password *** (ConnectionError)"
    shown = "".join(traceback.format_exception(caught.value))
    assert SECRET not in shown
    assert "library_call" in shown  # the cause keeps its traceback


# -- every store, end to end --

Scenario = Callable[[], Awaitable[list[Any]]]


@pytest.fixture(scope="module")
def nats_with_password(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    args = ["--user", "ops", "--pass", "the-right-one"]
    with start_nats_server(tmp_path_factory.mktemp("nats-secret"), extra_args=args) as server:
        yield server


@pytest.fixture(scope="module")
def kafka_with_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    with start_kafka_broker(tmp_path_factory.mktemp("kafka-secret"), extra_args=["--authentication"]) as b:
        yield b


async def failures(store: Any) -> list[Any]:
    """``store`` and the errors of a save (the first one connects), a load and a list on it (all failing)."""
    seen: list[Any] = [store]
    for call in (lambda: store.save(make_state("w")), lambda: store.load("w"), store.list):
        with pytest.raises(StoreError) as caught:
            await call()
        seen.append(caught.value)
    await store.close()
    return seen


@pytest.fixture
def dapr_standin() -> Iterator[DaprStandin]:
    with DaprStandin(api_token="the-right-one", echo_wrong_token=True) as standin:
        yield standin


@pytest.fixture
def inngest_standin() -> Iterator[InngestStandin]:
    with InngestStandin(event_key="the-right-one", echo_wrong_key=True) as standin:
        yield standin


@pytest.fixture
async def planted(planted_store: Any) -> list[Any]:
    """What a store with the planted secret shows when it fails: the store itself and its errors."""
    return await failures(planted_store)


@pytest.fixture(
    params=[
        "nats-url-password",
        "nats-option-password",
        "nats-url-token",
        "kafka-scram-password",
        "kafka-plain-password",
        "dapr-api-token",
        "dapr-url-password",
        "inngest-event-key",
    ]
)
def planted_store(request: pytest.FixtureRequest) -> Any:
    """A store of each kind with credentials, the planted secret among them (refused by its server)."""
    kind: str = request.param
    if kind.startswith("nats"):
        server: NatsServer = request.getfixturevalue("nats_with_password")
        where = f"127.0.0.1:{server.port}"
        if kind == "nats-url-password":
            return NatsStore(f"nats://ops:{SECRET}@{where}", bucket="b")
        if kind == "nats-option-password":
            options = {"user": "ops", "password": SECRET}
            return NatsStore(server.url, bucket="b", connect_options=options)
        return NatsStore(f"nats://{SECRET}@{where}", bucket="b")
    if kind.startswith("kafka"):
        broker: KafkaBroker = request.getfixturevalue("kafka_with_auth")
        mechanism = "SCRAM-SHA-512" if kind == "kafka-scram-password" else "PLAIN"
        options = {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": mechanism,
            "sasl_plain_username": "ops",
            "sasl_plain_password": SECRET,
        }
        return KafkaStore(broker.bootstrap_servers, topic="t", client_options=options)
    if kind.startswith("dapr"):
        standin: DaprStandin = request.getfixturevalue("dapr_standin")
        if kind == "dapr-api-token":
            return DaprStore(standin.url, api_token=SECRET)
        with_password = standin.url.replace("http://", f"http://ops:{SECRET}@")
        return DaprStore(with_password, api_token="wrong")
    inngest: InngestStandin = request.getfixturevalue("inngest_standin")
    return InngestStore(inngest.url, event_key=SECRET)


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # every logger: beluga_core, nats, aiokafka, httpx, httpcore, asyncio
    return caplog


def shown(thing: Any) -> str:
    """Everything a person could be shown of ``thing``: its repr, and for an error its whole traceback."""
    if isinstance(thing, BaseException):
        return repr(thing) + str(thing) + "".join(traceback.format_exception(thing))
    return repr(thing)


async def test_no_secret_in_errors_reprs_or_logs_of_a_failing_store(
    all_logs: pytest.LogCaptureFixture, planted: list[Any]
) -> None:
    _store, *errors = planted
    assert len(errors) == 3
    for thing in planted:
        assert SECRET not in shown(thing), shown(thing)
    logged = all_logs.text + "".join(str(record.__dict__) for record in all_logs.records)
    assert SECRET not in logged


async def test_a_store_repr_shows_its_server_and_bucket_or_topic(tmp_path: Path) -> None:
    assert repr(NatsStore(f"nats://ops:{SECRET}@127.0.0.1:4222", bucket="b")) == (
        "NatsStore(url='nats://ops:***@127.0.0.1:4222', bucket='b')"
    )
    kafka = KafkaStore("127.0.0.1:9092", topic="t", client_options={"sasl_plain_password": SECRET})
    assert (
        repr(kafka) == "KafkaStore(bootstrap_servers='127.0.0.1:9092', topic='t', sasl_plain_password='***')"
    )
    assert repr(DaprStore("http://127.0.0.1:3500", api_token=SECRET)) == (
        "DaprStore(base_url='http://127.0.0.1:3500', store_name='statestore', api_token='***')"
    )
    assert repr(InngestStore("http://127.0.0.1:8288", event_key=SECRET)) == (
        "InngestStore(base_url='http://127.0.0.1:8288', event_key='***')"
    )


async def test_no_secret_in_the_spans_of_a_traced_executor_on_a_failing_store(
    planted_store: Any, all_logs: pytest.LogCaptureFixture
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    executor = DefaultExecutor(store=planted_store)
    traced = apply_middleware(executor, with_tracing(tracer_provider=provider))
    for call in (
        lambda: traced.signal("w", Signal(name="go")),
        lambda: traced.cancel("w"),
        lambda: traced.query("w", "status"),
    ):
        with pytest.raises(StoreError):
            await call()
    await planted_store.close()
    provider.shutdown()

    spans = exporter.get_finished_spans()
    assert len(spans) == 3
    for span in spans:
        assert span.status.status_code == StatusCode.ERROR
        seen = [span.name, span.status.description, dict(span.attributes or {})]
        seen += [(event.name, dict(event.attributes or {})) for event in span.events]
        assert "StoreError" in repr(
            seen
        )  # the failure is on the span: what is scanned is what a backend gets
        assert SECRET not in repr(seen), seen
    logged = all_logs.text + "".join(str(record.__dict__) for record in all_logs.records)
    assert SECRET not in logged
