// The status page: asks for the token once, reads the API (api.js) and draws each section.
// Text reaches the page through textContent only: a revision message is shown, never run.
"use strict";

const $ = (selector) => document.querySelector(selector);

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const revs = (ids) => (ids && ids.length ? ids.map((id) => el("code", {}, id)) : [el("em", {}, "none")]);
const joined = (nodes) => nodes.flatMap((node, i) => (i ? [", ", node] : [node]));
const badge = (kind, text) => el("span", { class: "badge " + kind }, text);

function problemBox(problem) {
  return el(
    "div",
    { class: "problem", role: "alert" },
    el("strong", {}, problem.title || String(problem)),
    problem.detail ? el("span", {}, " " + problem.detail) : null
  );
}

function duration(startedAt, finishedAt) {
  if (!startedAt || !finishedAt) return "";
  const ms = Date.parse(finishedAt) - Date.parse(startedAt);
  if (!(ms >= 0)) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

const when = (iso) => (iso ? new Date(iso).toISOString().slice(0, 19).replace("T", " ") + " UTC" : "");

function drawWhere(state) {
  const status = state.up_to_date
    ? badge("ok", "up to date")
    : badge("pending", `${state.pending.length} pending`);
  const rows = [
    ["Current", joined(revs(state.current))],
    ["Heads", joined(revs(state.heads))],
    ["Status", status],
    ["Pending", joined(revs(state.pending))],
  ];
  const parts = [el("dl", {}, rows.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]))];
  if (state.binds) {
    const head = el("tr", {}, ["Database", "Current", "Pending"].map((h) => el("th", {}, h)));
    const body = Object.entries(state.binds).map(([name, bind]) =>
      el("tr", {}, el("td", {}, name), el("td", {}, joined(revs(bind.current))),
        el("td", {}, joined(revs(bind.pending))))
    );
    parts.push(el("table", {}, el("thead", {}, head), el("tbody", {}, body)));
  }
  return parts;
}

function finding(item) {
  const where = [item.table, item.column].filter(Boolean).join(".");
  return el(
    "li",
    { class: "finding " + item.severity + (item.blocking ? " blocking" : "") },
    item.blocking ? badge("blocking", "blocking") : null,
    el("span", { class: "severity" }, item.severity),
    " ", el("code", {}, item.code), where ? [" on ", el("code", {}, where)] : null,
    ": ", item.detail
  );
}

function drawPlan(plan) {
  const blocking = plan.blocking || 0;
  const summary = el(
    "p", {},
    "upgrade from ", joined(revs(plan.from)), " to ", joined(revs(plan.to)), ": ",
    `${plan.steps.length} step(s), ${plan.findings.length} finding(s), `,
    blocking ? badge("blocking", `${blocking} blocking`) : badge("ok", "0 blocking")
  );
  const head = el("tr", {}, ["#", "Revision", "Message", "Findings"].map((h) => el("th", {}, h)));
  const rows = plan.steps.map((step, i) =>
    el("tr", { class: step.findings.some((f) => f.blocking) ? "blocking" : "" },
      el("td", {}, i + 1),
      el("td", {}, el("code", {}, step.revision), step.bind ? ` (${step.bind})` : null),
      el("td", {}, step.message || ""),
      el("td", {}, step.findings.length ? el("ul", {}, step.findings.map(finding)) : "none"))
  );
  return [summary, el("table", { class: "steps" }, el("thead", {}, head), el("tbody", {}, rows)),
    el("p", { class: "quiet" }, "plan_id ", el("code", {}, plan.plan_id))];
}

function drawGraph(graph) {
  if (graph.format === "svg") {
    const img = el("img", { alt: "The revision graph", id: "graph-picture" });
    img.src = URL.createObjectURL(graph.blob);
    return [el("div", { class: "picture" }, img)];
  }
  return [problemBox(graph.why), el("p", {}, "The graph as Graphviz DOT:"),
    el("pre", { id: "graph-dot" }, graph.text)];
}

function drawOperations(page) {
  if (!page.items.length) return [el("p", {}, "No operation has been recorded yet.")];
  const columns = ["Started", "Kind", "Target", "From → to", "Status", "Actor", "Duration", "Note"];
  const rows = page.items.map((op) =>
    el("tr", { class: "status-" + op.status },
      el("td", {}, when(op.started_at)),
      el("td", {}, op.kind, op.sql ? " (dry run)" : ""),
      el("td", {}, el("code", {}, op.target || "")),
      el("td", {}, joined(revs(op.from)), " → ", joined(revs(op.to))),
      el("td", {}, badge(op.status, op.status)),
      el("td", {}, op.actor || ""),
      el("td", {}, op.finished_at ? duration(op.started_at, op.finished_at) : "running"),
      el("td", {}, [op.failed_revision ? `at ${op.failed_revision}: ` : "", op.error || ""].join("")))
  );
  return [el("p", { class: "quiet" }, `The ${page.items.length} newest of ${page.total}.`),
    el("table", {}, el("thead", {}, el("tr", {}, columns.map((c) => el("th", {}, c)))),
      el("tbody", {}, rows))];
}

function drawVerify(report) {
  const parts = [el("p", {}, report.ok ? badge("ok", "ok") : badge("failed", "not ok"),
    ` ${report.revisions.length} applied revision(s) checked.`)];
  const odd = report.revisions.filter((r) => r.status !== "ok");
  if (odd.length) {
    parts.push(el("ul", {}, odd.map((r) =>
      el("li", {}, el("code", {}, r.revision), " ", badge(r.status, r.status)))));
  }
  const drift = Object.entries(report.drift || {}).map(([name, part]) =>
    el("li", {}, `${name}: `, !part.checked ? `not checked${part.reason ? " (" + part.reason + ")" : ""}`
      : part.ok ? "no drift" : `${part.differences.length} difference(s)`));
  if (drift.length) parts.push(el("p", {}, "Drift:"), el("ul", {}, drift));
  return parts;
}

// Each section loads on its own: a problem in one leaves the others readable.
async function fill(id, load, draw) {
  const body = $(`#${id} .body`);
  body.replaceChildren(el("p", { class: "quiet" }, "Loading…"));
  try {
    body.replaceChildren(...draw(await load()));
  } catch (problem) {
    if (problem.status === 401) throw problem;
    body.replaceChildren(problemBox(problem));
  }
}

async function show() {
  $("#login").hidden = true;
  $("#status").hidden = $("#refresh").hidden = $("#forget").hidden = false;
  try {
    const state = api.current();
    await Promise.all([
      fill("where", () => state, drawWhere),
      fill("plan", async () => {
        if ((await state).pending.length === 0) return null;
        return api.planUpgrade();
      }, (plan) => (plan ? drawPlan(plan) : [el("p", {}, "Nothing pending: no upgrade to plan.")])),
      fill("graph", api.graph, drawGraph),
      fill("operations", () => api.operations(10), drawOperations),
      fill("verify", api.verify, drawVerify),
    ]);
  } catch (problem) {
    askForToken(problem);
  }
}

function askForToken(problem) {
  token.forget();
  $("#status").hidden = $("#refresh").hidden = $("#forget").hidden = true;
  $("#login").hidden = false;
  const box = $("#login-problem");
  box.hidden = !problem;
  if (problem) box.replaceChildren(...problemBox(problem).childNodes);
  $("#token").focus();
}

document.addEventListener("DOMContentLoaded", () => {
  $("#login").addEventListener("submit", (event) => {
    event.preventDefault();
    token.set($("#token").value);
    $("#token").value = "";
    show();
  });
  $("#refresh").addEventListener("click", show);
  $("#forget").addEventListener("click", () => askForToken(null));
  if (token.get()) show();
  else askForToken(null);
});
