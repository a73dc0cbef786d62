"""The examples in docs/stores.md run as written, against a real NATS server."""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

from tests.docs.examples import run_python
from tests.fixtures.nats import NatsServer, start_nats_server
from tests.fixtures.tls import TestCA

DOC = Path(__file__).resolve().parents[2] / "docs" / "stores.md"
EXAMPLE, CONSTRUCTORS, SECURE, SHARED = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def test_nats_example_prints_what_it_says(nats_server: NatsServer, tmp_path: Path) -> None:
    source = EXAMPLE.replace("nats://127.0.0.1:4222", nats_server.url)
    assert source != EXAMPLE
    assert run_python(source, tmp_path).splitlines() == ["hello ada", "['greeting/ada']"]


def test_several_executors_example_prints_what_it_says(nats_server: NatsServer, tmp_path: Path) -> None:
    source = SHARED.replace("nats://127.0.0.1:4222", nats_server.url).replace(
        "docs_shared", f"docs_{uuid.uuid4().hex}"
    )
    assert source != SHARED
    results = [f"order-{n}: approved" for n in range(4)]
    assert run_python(source, tmp_path).splitlines() == [str(results)]


def test_other_store_constructors_are_valid(tmp_path: Path) -> None:
    imports = "from beluga_core.stores import DaprStore, InngestStore, KafkaStore\n"
    run_python(imports + CONSTRUCTORS, tmp_path)


def test_nats_password_and_tls_example_prints_what_it_says(tmp_path: Path) -> None:
    ca = TestCA(tmp_path / "ca")
    cert = ca.server_cert("server")
    shutil.copy(ca.cert, tmp_path / "ca.pem")
    args = [
        "--user",
        "ops",
        "--pass",
        "s3cret",
        "--tls",
        "--tlscert",
        str(cert.cert),
        "--tlskey",
        str(cert.key),
    ]
    with start_nats_server(tmp_path / "nats", extra_args=args) as server:
        where = f"127.0.0.1:{server.port}"
        output = run_python(SECURE.replace("127.0.0.1:4222", where), tmp_path).splitlines()
    assert output == [
        f"NatsStore(url='nats://ops:***@{where}', bucket='secure')",
        f"nats/connect: nats://ops:***@{where} refused the credentials of user 'ops' (authorization violation)",
    ]
