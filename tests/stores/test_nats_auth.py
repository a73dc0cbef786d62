"""NatsStore against real nats-servers that require credentials (user/password, token, nkey, a .creds file)
or TLS.

Each server is started by the test module with the matching flags or config file; the TLS certificates are
made here by a CA that exists only for these tests (``tests/fixtures/tls.py``).
"""

from __future__ import annotations

import os
import ssl
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nkeys  # type: ignore[import-untyped]
import pytest

from beluga_core.stores import NatsStore
from beluga_core.stores._base import CredentialsRefused, TlsFailed
from beluga_core.workflow import StoreError
from tests.fixtures.nats import NatsServer, start_nats_server
from tests.fixtures.nats_jwt import NKey, Operator
from tests.fixtures.tls import TestCA

from .test_store_conformance import make_state

USER, PASSWORD, TOKEN = "ops", "right-password-7", "right-token-7"


def host_port(server: NatsServer) -> str:
    return f"127.0.0.1:{server.port}"


def new_nkey() -> tuple[str, str]:
    """A user nkey: (seed, public key)."""
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    public = nkeys.from_seed(bytearray(seed)).public_key
    return seed.decode(), public.decode()


@pytest.fixture(scope="module")
def password_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    args = ["--user", USER, "--pass", PASSWORD]
    with start_nats_server(tmp_path_factory.mktemp("nats-pw"), extra_args=args) as server:
        yield server


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    with start_nats_server(tmp_path_factory.mktemp("nats-token"), extra_args=["--auth", TOKEN]) as server:
        yield server


@pytest.fixture(scope="module")
def nkey() -> tuple[str, str]:
    return new_nkey()


@pytest.fixture(scope="module")
def nkey_server(tmp_path_factory: pytest.TempPathFactory, nkey: tuple[str, str]) -> Iterator[NatsServer]:
    config = f'authorization {{\n  users = [\n    {{ nkey: "{nkey[1]}" }}\n  ]\n}}\n'
    with start_nats_server(tmp_path_factory.mktemp("nats-nkey"), config=config) as server:
        yield server


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("ca"))


def tls_server(ca: TestCA, directory: Path, hosts: tuple[str, ...]) -> Any:
    cert = ca.server_cert(f"nats-{uuid.uuid4().hex[:6]}", hosts)
    args = ["--tls", "--tlscert", str(cert.cert), "--tlskey", str(cert.key)]
    return start_nats_server(directory, extra_args=args)


@pytest.fixture(scope="module")
def tls_nats(ca: TestCA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    with tls_server(ca, tmp_path_factory.mktemp("nats-tls"), ("127.0.0.1", "localhost")) as server:
        yield server


@pytest.fixture(scope="module")
def tls_nats_other_host(ca: TestCA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    with tls_server(ca, tmp_path_factory.mktemp("nats-tls-other"), ("nats.other.example",)) as server:
        yield server


def bucket() -> str:
    return f"auth_{uuid.uuid4().hex[:10]}"


async def round_trip(store: NatsStore) -> None:
    """Save and load a workflow: proves the store connected and JetStream works under that account."""
    async with store:
        await store.save(make_state("secured"))
        loaded = await store.load("secured")
    assert loaded is not None and loaded.workflow_id == "secured"


async def refusal(store: NatsStore) -> tuple[StoreError, float]:
    """The StoreError of a save on ``store`` and how long it took."""
    started = time.monotonic()
    with pytest.raises(StoreError) as caught:
        await store.save(make_state("refused"))
    await store.close()
    return caught.value, time.monotonic() - started


# -- user and password --


async def test_user_and_password_in_the_url_connect(password_server: NatsServer) -> None:
    url = f"nats://{USER}:{PASSWORD}@{host_port(password_server)}"
    await round_trip(NatsStore(url, bucket=bucket()))


async def test_user_and_password_in_connect_options_connect(password_server: NatsServer) -> None:
    options = {"user": USER, "password": PASSWORD}
    await round_trip(NatsStore(password_server.url, bucket=bucket(), connect_options=options))


async def test_a_wrong_password_is_refused_at_once_naming_server_and_user(
    password_server: NatsServer,
) -> None:
    url = f"nats://{USER}:wrong-password@{host_port(password_server)}"
    error, took = await refusal(NatsStore(url, bucket=bucket(), timeout=5.0))
    assert str(error) == (
        f"nats/save: connect: nats://ops:***@{host_port(password_server)} refused the credentials of user "
        "'ops' (authorization violation)"
    )
    assert isinstance(error.__cause__, CredentialsRefused)
    assert took < 2.0  # not the 5 s connect timeout


async def test_a_wrong_password_in_connect_options_is_refused_naming_the_user(
    password_server: NatsServer,
) -> None:
    options = {"user": USER, "password": "wrong-password"}
    error, _ = await refusal(NatsStore(password_server.url, bucket=bucket(), connect_options=options))
    assert str(error) == (
        f"nats/save: connect: {password_server.url} refused the credentials of user 'ops' "
        "(authorization violation)"
    )


async def test_no_credentials_for_a_server_that_requires_them_says_so(password_server: NatsServer) -> None:
    error, took = await refusal(NatsStore(password_server.url, bucket=bucket(), timeout=5.0))
    assert str(error) == (
        f"nats/save: connect: {password_server.url} requires credentials and none were given "
        "(authorization violation)"
    )
    assert took < 2.0


async def test_every_call_after_a_refusal_tries_again_and_is_refused_again(
    password_server: NatsServer,
) -> None:
    store = NatsStore(f"nats://{USER}:wrong@{host_port(password_server)}", bucket=bucket())
    for _ in range(2):
        with pytest.raises(StoreError, match="refused the credentials"):
            await store.load("x")
    await store.close()


# -- token --


async def test_a_token_in_the_url_connects(token_server: NatsServer) -> None:
    await round_trip(NatsStore(f"nats://{TOKEN}@{host_port(token_server)}", bucket=bucket()))


async def test_a_token_in_connect_options_connects(token_server: NatsServer) -> None:
    await round_trip(NatsStore(token_server.url, bucket=bucket(), connect_options={"token": TOKEN}))


async def test_a_wrong_token_is_refused_at_once(token_server: NatsServer) -> None:
    error, took = await refusal(NatsStore(f"nats://wrong-token@{host_port(token_server)}", bucket=bucket()))
    assert str(error) == (
        f"nats/save: connect: nats://***@{host_port(token_server)} refused the token (authorization violation)"
    )
    assert took < 2.0


# -- nkey --


async def test_an_nkey_seed_connects(nkey_server: NatsServer, nkey: tuple[str, str]) -> None:
    options = {"nkeys_seed_str": nkey[0]}
    await round_trip(NatsStore(nkey_server.url, bucket=bucket(), connect_options=options))


async def test_an_nkey_seed_file_connects(
    nkey_server: NatsServer, nkey: tuple[str, str], tmp_path: Path
) -> None:
    seed_file = tmp_path / "user.nk"
    seed_file.write_text(nkey[0])
    options = {"nkeys_seed": str(seed_file)}
    await round_trip(NatsStore(nkey_server.url, bucket=bucket(), connect_options=options))


async def test_an_unknown_nkey_is_refused_at_once(nkey_server: NatsServer) -> None:
    other_seed, _ = new_nkey()
    options = {"nkeys_seed_str": other_seed}
    error, took = await refusal(NatsStore(nkey_server.url, bucket=bucket(), connect_options=options))
    assert str(error) == (
        f"nats/save: connect: {nkey_server.url} refused the nkey seed (authorization violation)"
    )
    assert other_seed not in repr(error)
    assert took < 2.0


# -- .creds files (decentralised auth: operator, account and user JWTs) --


@pytest.fixture(scope="module")
def operator() -> Operator:
    return Operator.new()


@pytest.fixture(scope="module")
def creds_server(tmp_path_factory: pytest.TempPathFactory, operator: Operator) -> Iterator[NatsServer]:
    with start_nats_server(tmp_path_factory.mktemp("nats-creds"), config=operator.server_config()) as server:
        yield server


async def test_a_creds_file_connects(creds_server: NatsServer, operator: Operator, tmp_path: Path) -> None:
    creds = operator.user_creds(tmp_path / "ops.creds")
    options = {"user_credentials": str(creds)}
    await round_trip(NatsStore(creds_server.url, bucket=bucket(), connect_options=options))


async def test_a_creds_file_of_a_user_the_account_did_not_sign_is_refused_at_once(
    creds_server: NatsServer, operator: Operator, tmp_path: Path
) -> None:
    stranger = NKey.new(nkeys.PREFIX_BYTE_ACCOUNT)
    creds = operator.user_creds(tmp_path / "stranger.creds", signed_by=stranger)
    options = {"user_credentials": str(creds)}
    error, took = await refusal(NatsStore(creds_server.url, bucket=bucket(), connect_options=options))
    assert str(error) == (
        f"nats/save: connect: {creds_server.url} refused the credentials file '{creds}' (authorization violation)"
    )
    assert creds.read_text().split("\n")[5] not in repr(error)  # the seed
    assert took < 2.0


# -- TLS --


async def test_tls_with_a_context_trusting_the_servers_ca_connects(tls_nats: NatsServer, ca: TestCA) -> None:
    options = {"tls": ca.client_context()}
    await round_trip(NatsStore(tls_nats.url, bucket=bucket(), connect_options=options))


async def test_tls_with_an_unknown_ca_fails_at_once_naming_the_tls_problem(tls_nats: NatsServer) -> None:
    options = {"tls": ssl.create_default_context()}  # the system's CAs: the test CA is not among them
    error, took = await refusal(
        NatsStore(tls_nats.url, bucket=bucket(), timeout=5.0, connect_options=options)
    )
    assert str(error) == (
        f"nats/save: connect: {tls_nats.url}: TLS: certificate verify failed: unable to get local issuer "
        "certificate"
    )
    assert isinstance(error.__cause__, TlsFailed)
    assert took < 2.0


async def test_tls_with_a_certificate_for_another_host_fails_naming_the_mismatch(
    tls_nats_other_host: NatsServer, ca: TestCA
) -> None:
    options = {"tls": ca.client_context()}
    store = NatsStore(tls_nats_other_host.url, bucket=bucket(), connect_options=options)
    error, _ = await refusal(store)
    assert str(error) == (
        f"nats/save: connect: {tls_nats_other_host.url}: TLS: certificate verify failed: IP address mismatch, "
        "certificate is not valid for '127.0.0.1'."
    )
