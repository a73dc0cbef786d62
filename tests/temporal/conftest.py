"""Fixtures of the Temporal adapter tests (the server fixtures are in ``tests/fixtures/temporal.py``)."""

from __future__ import annotations

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment


@pytest.fixture(scope="session")
async def temporal_env_client_without_plugin(temporal_env: WorkflowEnvironment) -> Client:
    """A plain client of the session's dev server, connected without :class:`BelugaPlugin`."""
    return await Client.connect(temporal_env.client.service_client.config.target_host)
