// beluga operator UI: the workflow list and the run page. No framework, no network beyond this server.
// Every value from the store is put into the page as text (textContent), never as HTML.
"use strict";

const TOKEN = document.querySelector('meta[name="beluga-token"]').content;
const READ_ONLY = document.querySelector('meta[name="beluga-read-only"]').content === "true";
const LIST_REFRESH_MS = 2000;
const RUN_REFRESH_MS = 1500;

// -- helpers -----------------------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "style") Object.assign(node.style, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 0) seconds = 0;
  if (seconds < 0.001) return "<1ms";
  if (seconds < 1) return `${Math.round(seconds * 1000)}ms`;
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  if (seconds < 60) return `${Math.round(seconds)}s`;
  const m = Math.floor(seconds / 60), s = Math.floor(seconds % 60);
  if (m < 60) return `${m}m ${String(s).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d ${String(h % 24).padStart(2, "0")}h`;
}

function secondsBetween(a, b) {
  return (Date.parse(b) - Date.parse(a)) / 1000;
}

function ago(iso, nowIso) {
  const s = secondsBetween(iso, nowIso);
  if (s < 1) return "just now";
  if (s < 60) return `${Math.round(s)}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

function compact(value, limit) {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  if (text === undefined) return "";
  return limit && text.length > limit ? text.slice(0, limit - 1) + "…" : text;
}

function pretty(value) {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

function errorText(error) {
  return error ? (error.message ? `${error.type}: ${error.message}` : error.type) : "";
}

function runLink(id) {
  return "/runs/" + encodeURIComponent(id);
}

async function api(path, options) {
  const response = await fetch(path, options);
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON */ }
  if (!response.ok) throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
  return body;
}

function post(path, body) {
  return api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Beluga-Token": TOKEN },
    body: JSON.stringify(body || {}),
    credentials: "same-origin",
  });
}

function showError(message) {
  const box = document.getElementById("error");
  box.textContent = message || "";
  box.hidden = !message;
}

function autoRefresh(fn, ms, keepGoing) {
  const box = document.getElementById("auto-refresh");
  let timer = null;
  const tick = async () => {
    clearTimeout(timer);
    await fn();
    if (box.checked && keepGoing()) timer = setTimeout(tick, ms);
  };
  box.addEventListener("change", () => { if (box.checked) tick(); else clearTimeout(timer); });
  return tick;
}

// -- the workflow list ----------------------------------------------------------------------------

function listPage() {
  const params = new URLSearchParams(location.search);
  const filter = { status: params.get("status") || "", type: params.get("type") || "", id: params.get("q") || "" };
  const chips = document.querySelectorAll("#status-chips .chip");
  const typeSelect = document.getElementById("type-filter");
  const idInput = document.getElementById("id-filter");
  idInput.value = filter.id;
  let last = null;

  function remember() {
    const next = new URLSearchParams();
    if (filter.status) next.set("status", filter.status);
    if (filter.type) next.set("type", filter.type);
    if (filter.id) next.set("q", filter.id);
    history.replaceState(null, "", next.toString() ? `?${next}` : location.pathname);
  }

  function render() {
    if (!last) return;
    const all = last.workflows;
    const counts = { "": all.length };
    for (const wf of all) counts[wf.status] = (counts[wf.status] || 0) + 1;
    for (const chip of chips) {
      chip.classList.toggle("active", chip.dataset.status === filter.status);
      chip.querySelector(".count").textContent = counts[chip.dataset.status] || 0;
    }
    const types = [...new Set(all.map((wf) => wf.workflow_type))].sort();
    typeSelect.replaceChildren(el("option", { value: "", text: "all types" }),
      ...types.map((t) => el("option", { value: t, text: t, selected: t === filter.type })));
    const needle = filter.id.toLowerCase();
    const shown = all.filter((wf) =>
      (!filter.status || wf.status === filter.status) &&
      (!filter.type || wf.workflow_type === filter.type) &&
      (!needle || wf.workflow_id.toLowerCase().includes(needle)));
    const rows = shown.map((wf) => {
      const finished = wf.status !== "running";
      const took = secondsBetween(wf.created_at, finished ? wf.updated_at : last.now);
      const outcome = wf.error
        ? el("td", { class: "clip err", title: errorText(wf.error), text: errorText(wf.error) })
        : el("td", { class: "clip", title: wf.status === "completed" ? compact(wf.result) : "", text: wf.status === "completed" ? compact(wf.result, 90) : "" });
      return el("tr", { "data-id": wf.workflow_id },
        el("td", {}, el("a", { href: runLink(wf.workflow_id), text: wf.workflow_id })),
        el("td", {}, wf.workflow_type, wf.parent_id ? el("span", { class: "sub", text: `child of ${wf.parent_id}` }) : null),
        el("td", {}, el("span", { class: `pill ${wf.status}`, text: wf.status })),
        el("td", { title: wf.created_at, text: ago(wf.created_at, last.now) }),
        el("td", { class: `num${finished ? "" : " muted"}`, text: duration(took) }),
        outcome);
    });
    document.querySelector("#runs tbody").replaceChildren(...rows);
    document.getElementById("empty").hidden = shown.length > 0;
    document.getElementById("empty").textContent = all.length ? "No workflow matches these filters." : "No workflows here yet.";
    document.getElementById("updated").textContent =
      `${shown.length} of ${all.length} workflows · updated ${new Date(last.now).toLocaleTimeString()}`;
  }

  async function load() {
    try {
      last = await api("/api/workflows");
      showError("");
      render();
    } catch (error) {
      showError(`Cannot list workflows: ${error.message}`);
    }
  }

  for (const chip of chips) chip.addEventListener("click", () => { filter.status = chip.dataset.status; remember(); render(); });
  typeSelect.addEventListener("change", () => { filter.type = typeSelect.value; remember(); render(); });
  idInput.addEventListener("input", () => { filter.id = idInput.value.trim(); remember(); render(); });
  autoRefresh(load, LIST_REFRESH_MS, () => true)();
}

// -- the run page -----------------------------------------------------------------------------------

const KIND_NAMES = { activity: "activity", timer: "timer", signal_wait: "signal", child: "child", update: "update" };

function runPage() {
  const workflowId = decodeURIComponent(location.pathname.slice("/runs/".length));
  document.getElementById("crumb-id").textContent = workflowId;
  document.title = `${workflowId} · beluga`;
  let run = null;
  let selected = null; // key of the step whose detail is open

  function facts(wf, data) {
    const tl = data.timeline;
    const items = [
      ["type", wf.workflow_type],
      ["run id", wf.run_id],
      ["started", `${new Date(wf.created_at).toLocaleString()} (${ago(wf.created_at, data.now)})`],
      [wf.status === "running" ? "running for" : "took", duration(tl.duration)],
      ["events", String(wf.history.length)],
    ];
    const list = items.map(([k, v]) => el("div", {}, el("dt", { text: k }), el("dd", { title: v, text: v })));
    if (data.parent) {
      const step = data.parent.seq ? ` (step ${data.parent.seq})` : "";
      list.push(el("div", {}, el("dt", { text: "parent" }),
        el("dd", {}, el("a", { href: runLink(data.parent.workflow_id), text: data.parent.workflow_id }), step)));
    }
    return list;
  }

  function renderHead(data) {
    const wf = data.workflow;
    document.getElementById("run-head").hidden = false;
    document.getElementById("run-id").textContent = wf.workflow_id;
    const pill = document.getElementById("run-status");
    pill.className = `pill ${wf.status}`;
    pill.textContent = wf.status;
    document.getElementById("facts").replaceChildren(...facts(wf, data));
    const crumbParent = document.getElementById("crumb-parent");
    crumbParent.replaceChildren(...(data.parent ? [" / ", el("a", { href: runLink(data.parent.workflow_id), text: data.parent.workflow_id })] : []));
    document.getElementById("actions").hidden = READ_ONLY || wf.status !== "running";
    document.getElementById("values").hidden = false;
    document.getElementById("run-input").textContent = pretty(wf.input);
    const box = document.getElementById("outcome-box");
    box.className = `value ${wf.status}`;
    const title = document.getElementById("outcome-title");
    const outcome = document.getElementById("run-outcome");
    if (wf.error) { title.textContent = "error"; outcome.textContent = errorText(wf.error); }
    else if (wf.status === "completed") { title.textContent = "result"; outcome.textContent = pretty(wf.result); }
    else if (wf.status === "canceled") { title.textContent = "outcome"; outcome.textContent = "canceled"; }
    else { title.textContent = "result"; outcome.textContent = "(still running)"; }
  }

  function stepKey(item) { return `${item.kind}:${item.seq ?? ""}:${item.start ?? item.at}`; }

  function ticks(total) {
    const marks = [];
    for (let i = 0; i <= 4; i++) {
      const at = (total * i) / 4;
      marks.push(el("span", { class: "tl-tick", style: { left: `${i * 25}%` }, text: i === 0 ? "0" : `+${duration(at)}` }));
    }
    return marks;
  }

  function barSegments(span, end) {
    if (span.kind !== "activity" || !span.attempts.length) return [];
    const total = Math.max(end - span.start, 1e-6);
    const grow = (seconds) => Math.max(seconds / total, 0.001) * 1000; // flex-grow summing to ~1000
    const parts = [];
    span.attempts.forEach((attempt, i) => {
      const stop = attempt.end ?? end;
      parts.push(el("span", { class: `tl-seg ${attempt.status}`, style: { flexGrow: grow(stop - attempt.start) },
        title: `attempt ${attempt.attempt}: ${attempt.status} in ${duration(stop - attempt.start)}${attempt.error ? " — " + attempt.error : ""}` }));
      const next = span.attempts[i + 1];
      if (next && attempt.end !== null) {
        parts.push(el("span", { class: "tl-seg backoff", style: { flexGrow: grow(next.start - attempt.end) },
          title: `retry backoff ${duration(next.start - attempt.end)}` }));
      }
    });
    return parts;
  }

  function barText(span, end) {
    const took = duration(end - span.start);
    if (span.kind === "activity") {
      const n = span.attempts.length;
      return `${n > 1 ? `${n} attempts · ` : ""}${took}${span.status === "running" ? " so far" : ""}${span.status === "failed" ? " · failed" : ""}`;
    }
    if (span.kind === "timer") return `${took}${span.status === "running" ? " of " + duration(span.detail.duration) : ""}`;
    if (span.kind === "signal_wait") {
      return span.status === "received" ? `received after ${took}` : span.status === "timed_out" ? `timed out after ${took}` : `waiting ${took}`;
    }
    return `${span.status === "running" ? "running " : ""}${took}${["failed", "canceled"].includes(span.status) ? " · " + span.status : ""}`;
  }

  function renderTimeline(data) {
    const tl = data.timeline;
    const total = tl.duration > 0 ? tl.duration : 1e-3;
    const pct = (seconds) => `${Math.min(Math.max(seconds / total, 0), 1) * 100}%`;
    const nodes = [el("div", { class: "tl-axis-label" }), el("div", { class: "tl-axis" }, ticks(tl.duration))];
    if (tl.marks.length) {
      nodes.push(el("div", { class: "tl-label" }, el("span", { class: "kind", text: "events" }), "signals, cancels"));
      nodes.push(el("div", { class: "tl-lane marks" }, tl.marks.map((mark) =>
        el("span", { class: `tl-mark ${mark.kind}`, tabindex: "0", "data-key": stepKey(mark), style: { left: pct(mark.at) },
          title: `${mark.label} at +${duration(mark.at)}${mark.detail.payload !== undefined ? " — " + compact(mark.detail.payload, 80) : ""}`,
          onclick: () => select(mark) }))));
    }
    for (const span of tl.spans) {
      const end = span.end ?? tl.duration;
      const label = span.kind === "child" && span.child_id
        ? el("a", { href: runLink(span.child_id), text: span.child_id, title: `child workflow ${span.label}` })
        : span.label;
      nodes.push(el("div", { class: "tl-label", title: `${KIND_NAMES[span.kind]} ${span.label}${span.seq ? " · step " + span.seq : ""}` },
        el("span", { class: "kind", text: KIND_NAMES[span.kind] }), label));
      const left = Math.min(Math.max(span.start / total, 0), 1);
      const nearEnd = left > 0.7;
      nodes.push(el("div", { class: "tl-lane" },
        el("span", { class: `tl-bar ${span.kind} ${span.status}${selected === stepKey(span) ? " selected" : ""}`, tabindex: "0",
          role: "button", "data-key": stepKey(span), "data-kind": span.kind, "data-label": span.label,
          style: { left: pct(span.start), width: `calc(${pct(end - span.start)})` },
          title: `${span.label}: ${span.status}, ${duration(end - span.start)}`,
          onclick: () => select(span), onkeydown: (event) => { if (event.key === "Enter") select(span); } },
          barSegments(span, end)),
        el("span", { class: `tl-bar-text${nearEnd ? " inside-left" : ""}`, style: nearEnd ? { right: `calc(${100 - left * 100}% + 6px)` } : { left: `calc(${pct(end)} + 6px)` },
          text: barText(span, end) })));
    }
    document.getElementById("timeline-box").hidden = false;
    document.getElementById("timeline").replaceChildren(...nodes);
    renderDetail();
  }

  function select(item) {
    selected = selected === stepKey(item) ? null : stepKey(item);
    renderTimeline(run);
  }

  function renderDetail() {
    const box = document.getElementById("step-detail");
    const tl = run.timeline;
    const item = [...tl.spans, ...tl.marks].find((x) => stepKey(x) === selected);
    if (!item) { box.hidden = true; return; }
    const rows = [["step", `${item.label}${item.seq ? " (step " + item.seq + ")" : ""}`]];
    if (item.at !== undefined) rows.push(["at", `+${duration(item.at)}`]);
    else {
      rows.push(["status", item.status]);
      rows.push(["started", `+${duration(item.start)}`]);
      rows.push(["took", item.end === null ? `${duration(tl.duration - item.start)} so far` : duration(item.end - item.start)]);
    }
    for (const attempt of item.attempts || []) {
      const took = attempt.end === null ? "running" : duration(attempt.end - attempt.start);
      rows.push([`attempt ${attempt.attempt}`, `${attempt.status} in ${took}${attempt.error ? " — " + attempt.error : ""}${attempt.backoff ? ` (retried after ${duration(attempt.backoff)})` : ""}`]);
    }
    for (const [key, value] of Object.entries(item.detail || {})) {
      if (value === null || value === undefined) continue;
      rows.push([key, key === "timeout" || key === "duration" ? duration(value) : pretty(value)]);
    }
    box.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
    if (item.child_id) box.append(el("dt", { text: "child run" }), el("dd", {}, el("a", { href: runLink(item.child_id), text: item.child_id })));
    box.hidden = false;
  }

  function renderHistory(data) {
    const history = data.workflow.history;
    const t0 = history.length ? history[0].timestamp : data.workflow.created_at;
    document.getElementById("history-box").hidden = false;
    document.getElementById("history-count").textContent = `(${history.length} events)`;
    document.querySelector("#history tbody").replaceChildren(...history.map((event) => {
      const name = event.child ? `${event.child.workflow_type} ${event.child.workflow_id}` : event.activity_name || event.signal_name || event.update_name || event.patch_id || "";
      const detail = event.error ? errorText(event.error)
        : event.signal_payload !== null ? compact(event.signal_payload, 120)
        : event.result !== null ? "→ " + compact(event.result, 120)
        : event.input !== null ? compact(event.input, 120) : "";
      return el("tr", {},
        el("td", { class: "num", text: event.id }),
        el("td", { class: "num", title: event.timestamp, text: `+${duration(secondsBetween(t0, event.timestamp))}` }),
        el("td", { text: event.type }),
        el("td", { class: "num", text: event.seq ?? "" }),
        el("td", { class: "mono", text: name }),
        el("td", { class: "num", text: event.attempt ?? "" }),
        el("td", { class: `clip${event.error ? " err" : ""}`, title: detail, text: detail }));
    }));
  }

  async function load() {
    try {
      run = await api(`/api/runs/${encodeURIComponent(workflowId)}`);
      showError("");
      renderHead(run);
      renderTimeline(run);
      renderHistory(run);
    } catch (error) {
      showError(`Cannot load workflow ${workflowId}: ${error.message}`);
    }
  }

  setUpDialogs(workflowId, () => refresh());
  const refresh = autoRefresh(load, RUN_REFRESH_MS, () => !run || run.workflow.status === "running");
  refresh();
}

function setUpDialogs(workflowId, refresh) {
  for (const span of document.querySelectorAll(".dialog-id")) span.textContent = workflowId;
  const signalDialog = document.getElementById("signal-dialog");
  const cancelDialog = document.getElementById("cancel-dialog");
  const signalError = document.getElementById("signal-error");
  const cancelError = document.getElementById("cancel-error");
  const fail = (box, message) => { box.textContent = message; box.hidden = !message; };

  document.getElementById("signal-open").addEventListener("click", () => { fail(signalError, ""); signalDialog.showModal(); });
  document.getElementById("cancel-open").addEventListener("click", () => { fail(cancelError, ""); cancelDialog.showModal(); });
  document.getElementById("signal-dismiss").addEventListener("click", () => signalDialog.close());
  document.getElementById("cancel-dismiss").addEventListener("click", () => cancelDialog.close());

  document.getElementById("signal-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = document.getElementById("signal-name").value.trim();
    const raw = document.getElementById("signal-payload").value.trim();
    let payload = null;
    if (raw) {
      try { payload = JSON.parse(raw); } catch (error) { fail(signalError, `The payload is not JSON: ${error.message}`); return; }
    }
    try {
      await post(`/api/signal/${encodeURIComponent(workflowId)}`, { name, payload });
      signalDialog.close();
      refresh();
    } catch (error) { fail(signalError, error.message); }
  });
  document.getElementById("cancel-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await post(`/api/cancel/${encodeURIComponent(workflowId)}`);
      cancelDialog.close();
      refresh();
    } catch (error) { fail(cancelError, error.message); }
  });
}

if (document.body.dataset.page === "list") listPage();
else if (document.body.dataset.page === "run") runPage();
