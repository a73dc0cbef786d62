"""BelugaPlugin: pydantic conversion, the sandbox kept on with Beluga's modules passed through, sandbox errors
as workflow failures, and optional tracing.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import RestrictedWorkflowAccessError, SandboxedWorkflowRunner

from beluga_temporal import BelugaPlugin, create_worker
from tests.conformance import workflows as conformance


async def connect(env: WorkflowEnvironment, *plugins: BelugaPlugin) -> Client:
    return await Client.connect(env.client.service_client.config.target_host, plugins=list(plugins))


async def test_clients_get_the_pydantic_payload_converter(temporal_client: Client) -> None:
    assert temporal_client.data_converter.payload_converter_class is PydanticPayloadConverter


async def test_workers_keep_the_sandbox_with_beluga_modules_passed_through(
    temporal_client: Client, task_queue: str
) -> None:
    worker = create_worker(temporal_client, task_queue=task_queue, workflows=[conformance.constant])

    runner = worker.config(active_config=True)["workflow_runner"]

    assert isinstance(runner, SandboxedWorkflowRunner)
    assert {"beluga_core", "beluga_temporal"} <= runner.restrictions.passthrough_modules


async def test_extra_passthrough_modules_are_passed_through(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = await connect(temporal_env, BelugaPlugin(passthrough_modules=["myapp.activities"]))
    worker = create_worker(client, task_queue=task_queue, workflows=[conformance.constant])

    runner = worker.config(active_config=True)["workflow_runner"]

    assert isinstance(runner, SandboxedWorkflowRunner)
    assert "myapp.activities" in runner.restrictions.passthrough_modules


async def test_sandbox_violations_are_workflow_failure_types(
    temporal_client: Client, task_queue: str
) -> None:
    worker = create_worker(temporal_client, task_queue=task_queue, workflows=[conformance.constant])

    assert (
        RestrictedWorkflowAccessError in worker.config(active_config=True)["workflow_failure_exception_types"]
    )


async def test_a_runner_chosen_by_the_caller_is_kept(temporal_client: Client, task_queue: str) -> None:
    runner = UnsandboxedWorkflowRunner()

    worker = create_worker(
        temporal_client, task_queue=task_queue, workflows=[conformance.constant], workflow_runner=runner
    )

    assert worker.config(active_config=True)["workflow_runner"] is runner


async def test_create_worker_configures_a_client_that_lacks_the_plugin(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    plain = await connect(temporal_env)

    worker = create_worker(plain, task_queue=task_queue, workflows=[conformance.constant])

    config = worker.config(active_config=True)
    assert isinstance(config["workflow_runner"], SandboxedWorkflowRunner)
    assert "beluga_temporal" in config["workflow_runner"].restrictions.passthrough_modules


async def test_tracing_adds_temporals_tracing_interceptor(temporal_env: WorkflowEnvironment) -> None:
    traced = await connect(temporal_env, BelugaPlugin(tracing=True))
    untraced = await connect(temporal_env, BelugaPlugin())

    assert any(isinstance(i, TracingInterceptor) for i in traced.config(active_config=True)["interceptors"])
    assert not any(
        isinstance(i, TracingInterceptor) for i in untraced.config(active_config=True)["interceptors"]
    )
