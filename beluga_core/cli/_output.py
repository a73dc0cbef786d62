"""What the ``beluga`` command prints: Rich tables for people, JSON for machines.

People get aligned tables, colour when the terminal supports it (Rich decides; ``NO_COLOR`` turns it off),
durations and relative times, and long values cut with ``…``. Machines get the JSON shapes of
:mod:`beluga_core.ui._shapes`, printed as plain text (never through Rich, which would wrap or colour it).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from ..api._types import EventType, HistoryEvent, WorkflowState, WorkflowStatus, utc_now
from ..ui._shapes import compact, detail, summary

STATUS_STYLES = {
    WorkflowStatus.RUNNING: "bold cyan",
    WorkflowStatus.COMPLETED: "bold green",
    WorkflowStatus.FAILED: "bold red",
    WorkflowStatus.CANCELED: "bold yellow",
}
_VALUE_WIDTH = 120


def console(stderr: bool = False) -> Console:
    """A Rich console on stdout (or stderr); not a terminal: no colour, and wide enough not to wrap ids."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else int(os.environ.get("COLUMNS", "160"))
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


def print_json(data: Any) -> None:
    """``data`` as indented JSON on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def print_value(value: Any) -> None:
    """A result or a query answer: its JSON, on one line."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")


def list_json(states: Iterable[WorkflowState]) -> list[dict[str, Any]]:
    return [summary(state) for state in states]


def show_json(state: WorkflowState) -> dict[str, Any]:
    return detail(state)


# -- durations and times --------------------------------------------------------------------------------


def human_duration(seconds: float) -> str:
    """``0.42`` -> ``420ms``, ``75`` -> ``1m 15s``, ``7300`` -> ``2h 01m``, ``200000`` -> ``2d 07h``."""
    if seconds < 0:
        seconds = 0.0
    if seconds < 0.001:
        return "<1ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def relative_time(when: datetime, now: datetime | None = None) -> str:
    """``when`` relative to ``now``: ``just now``, ``42s ago``, ``3m ago``, ``5h ago``, ``2d ago``."""
    seconds = ((now or utc_now()) - when).total_seconds()
    if seconds < 1:
        return "just now"
    if seconds < 60:
        return f"{seconds:.0f}s ago"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m ago"
    if seconds < 86400:
        return f"{seconds // 3600:.0f}h ago"
    return f"{seconds // 86400:.0f}d ago"


def absolute_time(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def run_duration(state: WorkflowState, now: datetime | None = None) -> float:
    """How long the run took, or has been running."""
    end = state.updated_at if state.status.is_terminal else (now or utc_now())
    return (end - state.created_at).total_seconds()


def status_text(status: WorkflowStatus) -> Text:
    return Text(status.value, style=STATUS_STYLES.get(status, ""))


def outcome_text(state: WorkflowState, limit: int | None = _VALUE_WIDTH) -> Text:
    """The result of a completed run, the error of a failed one, else nothing."""
    if state.error is not None:
        return Text(compact(str(state.error), limit), style="red")
    if state.status == WorkflowStatus.COMPLETED:
        return Text(compact(state.result, limit))
    return Text("")


# -- list -------------------------------------------------------------------------------------------------


def list_table(states: list[WorkflowState], source: str, width: int) -> Group:
    now = utc_now()
    rows = []
    for state in states:
        duration = Text(
            human_duration(run_duration(state, now)), style="" if state.status.is_terminal else "italic dim"
        )
        rows.append(
            [
                Text(state.workflow_id),
                Text(state.workflow_type),
                status_text(state.status),
                Text(relative_time(state.created_at, now)),
                duration,
                outcome_text(state),
            ]
        )
    plural = "" if len(states) == 1 else "s"
    return _table(
        f"{len(states)} workflow{plural} in {source}",
        ["WORKFLOW ID", "TYPE", "STATUS", "STARTED", "DURATION>", "RESULT / ERROR"],
        rows,
        width,
    )


def _table(title: str, headers: list[str], rows: list[list[Text]], width: int) -> Group:
    """``title`` over a borderless table ``width`` wide at most, whose last column alone gives way (cut with
    ``…``): every other column keeps the width of its widest cell. A header ending in ``>`` is right-aligned.
    (The title is a line of its own: as a table title it would be wrapped to the table's width.)"""
    table = Table(header_style="bold", box=None, pad_edge=False)
    widths = [max([len(h.rstrip(">")), *(row[i].cell_len for row in rows)]) for i, h in enumerate(headers)]
    room = max(width - sum(widths[:-1]) - 2 * (len(headers) - 1), 12)
    for index, (header, widest) in enumerate(zip(headers, widths, strict=True)):
        justify: Literal["left", "right"] = "right" if header.endswith(">") else "left"
        last = index == len(headers) - 1
        table.add_column(
            header.rstrip(">"), justify=justify, no_wrap=True, width=min(widest, room) if last else widest
        )
    for row in rows:
        row[-1].truncate(room, overflow="ellipsis")
        table.add_row(*row)
    return Group(Text(title, style="bold"), table)


# -- show -------------------------------------------------------------------------------------------------


def show_header(state: WorkflowState) -> Table:
    now = utc_now()
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("workflow", Text(state.workflow_id, style="bold"))
    grid.add_row("type", state.workflow_type)
    grid.add_row("status", status_text(state.status))
    grid.add_row("run", state.run_id)
    parent = state.parent
    if parent is not None:
        step = f" (step {parent.seq})" if parent.seq else ""
        grid.add_row("parent", f"{parent.workflow_id}{step}, parent close: {parent.parent_close}")
    grid.add_row("started", f"{absolute_time(state.created_at)} ({relative_time(state.created_at, now)})")
    took = human_duration(run_duration(state, now))
    if state.status.is_terminal:
        grid.add_row("ended", f"{absolute_time(state.updated_at)} (took {took})")
    else:
        grid.add_row("running for", took)
    if state.timeout is not None:
        grid.add_row("timeout", human_duration(state.timeout.total_seconds()))
    grid.add_row("input", compact(state.input, 400))
    if state.error is not None:
        grid.add_row("error", Text(str(state.error), style="red"))
    elif state.status == WorkflowStatus.COMPLETED:
        grid.add_row("result", compact(state.result, 400))
    return grid


_EVENT_STYLES = {
    EventType.WORKFLOW_STARTED: "bold",
    EventType.WORKFLOW_COMPLETED: "bold green",
    EventType.WORKFLOW_FAILED: "bold red",
    EventType.WORKFLOW_CANCELED: "bold yellow",
    EventType.WORKFLOW_CANCEL_REQUESTED: "yellow",
    EventType.ACTIVITY_COMPLETED: "green",
    EventType.ACTIVITY_FAILED: "red",
    EventType.ACTIVITY_ATTEMPT_FAILED: "red",
    EventType.CHILD_COMPLETED: "green",
    EventType.CHILD_FAILED: "red",
    EventType.CHILD_CANCELED: "yellow",
    EventType.SIGNAL_RECEIVED: "magenta",
    EventType.SIGNAL_DELIVERED: "magenta",
}


def history_table(state: WorkflowState, width: int) -> Group:
    """The events, one a line: when (from the run's start), what, its step, its name, and what it carried."""
    history = state.history
    t0 = history[0].timestamp if history else state.created_at
    rows = [
        [
            Text(str(event.id)),
            Text(f"+{human_duration((event.timestamp - t0).total_seconds())}" if event.id > 1 else "0"),
            Text(event.type.value, style=_EVENT_STYLES.get(event.type, "")),
            Text(str(event.seq) if event.seq is not None else ""),
            Text(_event_name(event)),
            _event_detail(event),
        ]
        for event in history
    ]
    plural = "" if len(history) == 1 else "s"
    return _table(
        f"history ({len(history)} event{plural})",
        ["#>", "TIME>", "EVENT", "STEP>", "NAME", "DETAIL"],
        rows,
        width,
    )


def _event_name(event: HistoryEvent) -> str:
    if event.child is not None:
        return event.child.workflow_id
    if event.update_name:
        return event.update_name
    return event.activity_name or event.signal_name or event.patch_id or ""


def _event_duration(event: HistoryEvent) -> str:
    assert event.duration is not None
    shown = human_duration(event.duration.total_seconds())
    if event.type == EventType.ACTIVITY_ATTEMPT_FAILED:
        return f"retry in {shown}"
    if event.type == EventType.TIMER_STARTED:
        return f"timeout {shown}" if event.signal_name else f"sleep {shown}"
    return f"took {shown}"


def _event_detail(event: HistoryEvent) -> Text:
    """The attempt, the duration and the value (error, payload, result or input) an event carries."""
    detail = Text()
    if event.attempt is not None and event.activity_name:
        detail.append(f"attempt {event.attempt}  ", style="dim")
    if event.duration is not None:
        detail.append(f"{_event_duration(event)}  ", style="dim")
    if event.error is not None:
        detail.append(compact(str(event.error), _VALUE_WIDTH), style="red")
    elif event.type in (EventType.SIGNAL_RECEIVED, EventType.SIGNAL_DELIVERED, EventType.CHILD_SIGNALED):
        detail.append(compact(event.signal_payload, _VALUE_WIDTH))
    elif event.result is not None:
        detail.append("→ " + compact(event.result, _VALUE_WIDTH))
    elif event.input is not None:
        detail.append(compact(event.input, _VALUE_WIDTH), style="dim")
    elif event.child is not None:
        detail.append(event.child.workflow_type, style="dim")
    return detail
