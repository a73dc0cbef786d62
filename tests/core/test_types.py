"""The API types: exact enum values and JSON round trips."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from beluga_core.api._types import uuid4_text
from beluga_core.api.errors import InvalidInputError
from beluga_core.engine._execution import resolve_options
from beluga_core.workflow import (
    ErrorInfo,
    EventType,
    HistoryEvent,
    Signal,
    WorkflowFilter,
    WorkflowOptions,
    WorkflowState,
    WorkflowStatus,
)


def test_status_values_are_the_contract() -> None:
    assert [s.value for s in WorkflowStatus] == ["running", "completed", "failed", "canceled"]
    assert str(WorkflowStatus.RUNNING) == "running"
    assert WorkflowStatus.RUNNING == "running"


def test_event_types_include_the_contract_values() -> None:
    contract = {
        "workflow_started",
        "workflow_completed",
        "workflow_failed",
        "workflow_canceled",
        "activity_started",
        "activity_completed",
        "activity_failed",
        "signal_received",
        "timer_started",
        "timer_fired",
    }
    assert contract <= {e.value for e in EventType}


def test_workflow_state_round_trips_through_json() -> None:
    at = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=timezone.utc)
    state = WorkflowState(
        workflow_id="w",
        run_id="r",
        workflow_type="t",
        status=WorkflowStatus.FAILED,
        input={"a": [1, {"b": None}]},
        error=ErrorInfo(type="ValueError", message="bad"),
        history=[
            HistoryEvent(id=1, type=EventType.WORKFLOW_STARTED, timestamp=at, input="x"),
            HistoryEvent(
                id=2, type=EventType.TIMER_STARTED, timestamp=at, seq=1, duration=timedelta(seconds=1.5)
            ),
        ],
        created_at=at,
        updated_at=at,
        timeout=timedelta(hours=1),
    )
    assert WorkflowState.model_validate_json(state.model_dump_json()) == state
    assert state.deadline == at + timedelta(hours=1)


def test_history_event_ids_start_at_one() -> None:
    with pytest.raises(ValidationError):
        HistoryEvent(id=0, type=EventType.WORKFLOW_STARTED)


def test_signal_needs_a_name_and_stamps_its_send_time() -> None:
    with pytest.raises(ValidationError):
        Signal(name="")
    assert Signal(name="go").sent_at.tzinfo is not None


def test_options_generate_an_id_only_when_empty() -> None:
    assert WorkflowOptions(id="mine").with_generated_id().id == "mine"
    generated = WorkflowOptions().with_generated_id().id
    assert generated.startswith("wf-") and len(generated) > 10


@pytest.mark.parametrize(("limit", "expected"), [(None, None), (0, None), (-3, None), (5, 5)])
def test_filter_limit_of_zero_or_less_means_unlimited(limit: int | None, expected: int | None) -> None:
    assert WorkflowFilter(limit=limit).max_results == expected


def test_error_info_reads_as_type_and_message() -> None:
    assert str(ErrorInfo.from_exception(KeyError("sku"))) == "KeyError: 'sku'"


def test_uuid4_text_is_a_version_4_uuid_in_its_canonical_form() -> None:
    texts = {uuid4_text() for _ in range(1000)}
    assert len(texts) == 1000
    for text in texts:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == text


@pytest.mark.parametrize(
    "keywords",
    [{"id": "order-1"}, {"id": "order-1", "input": {"qty": 2}}, {"input": [1, 2]}, {"id": ""}, {}],
)
def test_keyword_options_without_a_timeout_are_the_options_validation_builds(
    keywords: dict[str, object],
) -> None:
    resolved = resolve_options(None, dict(keywords))
    validated = WorkflowOptions(**keywords)
    assert resolved.input == validated.input
    assert resolved.timeout is None
    assert resolved.id == keywords["id"] if keywords.get("id") else resolved.id.startswith("wf-")
    assert resolved.model_fields_set == validated.model_fields_set | {"id"}
    assert resolved.model_dump(exclude={"id"}) == validated.model_dump(exclude={"id"})


def test_a_keyword_id_that_is_not_a_string_is_refused_by_validation() -> None:
    with pytest.raises(InvalidInputError, match="invalid options"):
        resolve_options(None, {"id": 3})
