// flux-mock's dashboard: the admin API, read every second and shown as tables; buttons call the same API.
// No build step and no dependency: the admin API's own access rules apply (its token, if it has one).
"use strict";

const API = "/__admin";
const REFRESH_MS = 1000;
const JOURNAL_SHOWN = 200;
const token = () => sessionStorage.getItem("flux-mock-admin-token") || "";
const $ = (selector) => document.querySelector(selector);

async function call(method, path, body) {
  const headers = {"Content-Type": "application/json"};
  if (token()) headers["X-Admin-Token"] = token();
  const answer = await fetch(API + path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  if (answer.status === 403) {
    $("#token-form").hidden = false;
    throw new Error("the admin API refused this page: it needs the mock's admin token");
  }
  const text = await answer.text();
  const data = text ? JSON.parse(text) : null;
  if (!answer.ok) throw new Error(`${method} ${path}: ${answer.status} ${(data && (data.message || data.error)) || ""}`);
  return data;
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (className) td.className = className;
  return td;
}

function button(label, action) {
  const element = document.createElement("button");
  element.textContent = label;
  element.dataset.action = label;
  element.addEventListener("click", async () => { await run(action); });
  return element;
}

function fill(tableId, rows) {
  // A row whose content did not change stays as it is, so a click during a refresh is never lost.
  const body = $(`#${tableId} tbody`);
  const shown = new Map([...body.children].map((tr) => [tr.dataset.id, tr]));
  body.replaceChildren(...rows.map((tr) => {
    const old = shown.get(tr.dataset.id);
    return old && old.textContent === tr.textContent ? old : tr;
  }));
}

function row(cells, id) {
  const tr = document.createElement("tr");
  if (id) tr.dataset.id = id;
  tr.append(...cells.map((item) => (item instanceof Node && item.tagName === "TD") ? item : wrap(item)));
  return tr;
}

function wrap(item) {
  if (item instanceof Node) { const td = document.createElement("td"); td.append(item); return td; }
  return cell(item);
}

function shortTime(iso) { return iso ? iso.slice(11, 19) : ""; }

function jobRow(job) {
  const [started, finished] = job.transitions;
  const timeline = [`QUEUED ${shortTime(job.created_at)}`, started && `PROCESSING ${shortTime(started)}`,
    finished && `${job.outcome} ${shortTime(finished)}`].filter(Boolean).join(" → ");
  const final = ["COMPLETED", "FAILED", "ERROR"].includes(job.status);
  const actions = document.createElement("span");
  if (!final) {
    actions.append(button("advance", () => call("POST", `/jobs/${encodeURIComponent(job.request_id)}/advance`, {})),
      button("finish", () => call("POST", `/jobs/${encodeURIComponent(job.request_id)}/advance`, {to_end: true})),
      button("fail", () => call("POST", `/jobs/${encodeURIComponent(job.request_id)}/advance`,
        {to_end: true, outcome: "FAILED", error: "Failed from the flux-mock dashboard"})));
  }
  return row([cell(job.request_id), cell(job.operation_id), cell(job.status, `status-${job.status}`), cell(timeline),
    cell(job.polls), actions], job.request_id);
}

function journalRows(entries, findings) {
  const key = $("#filter-key").value.trim(), operation = $("#filter-operation").value.trim();
  const onlyProblems = $("#filter-problems").checked;
  const bySeq = {};
  for (const finding of findings) (bySeq[finding.seq] = bySeq[finding.seq] || []).push(finding);
  return entries.filter((entry) => (!key || (entry.key || "").includes(key))
      && (!operation || (entry.operation_id || "").includes(operation))
      && (!onlyProblems || (entry.violations || []).length || bySeq[entry.seq]))
    .slice(-JOURNAL_SHOWN).reverse().map((entry) => {
      const notes = document.createElement("td");
      for (const violation of entry.violations || []) notes.append(line(`violation: ${violation}`, "problem"));
      for (const finding of bySeq[entry.seq] || []) notes.append(line(`${finding.kind}: ${finding.detail}`, "finding"));
      if (entry.answer) notes.append(line(`answer: ${entry.answer}`));
      return row([cell(entry.seq), cell(`${entry.method} ${entry.path}`), cell(entry.status), cell(entry.operation_id),
        cell(entry.key), notes], String(entry.seq));
    });
}

function line(text, className) {
  const div = document.createElement("div");
  div.textContent = text;
  if (className) div.className = className;
  return div;
}

function attempts(delivery) {
  const td = cell(`${delivery.attempts}`);
  for (const attempt of delivery.history || []) td.append(line(typeof attempt === "string" ? attempt : JSON.stringify(attempt)));
  if (delivery.last_error) td.append(line(delivery.last_error, "problem"));
  return td;
}

async function refresh() {
  const [health, jobs, journal, report, webhooks, wallets, rules] = await Promise.all([
    call("GET", "/health"), call("GET", "/jobs?limit=200&order=newest"), call("GET", "/journal?limit=500"), call("GET", "/client-report"),
    call("GET", "/webhooks?limit=200"), call("GET", "/wallets"), call("GET", "/rules")]);
  $("#health").textContent = `${health.status} · ${health.store.kind} · ${health.jobs} jobs`;
  $("#health").className = `pill ${health.status === "ok" ? "ok" : "bad"}`;
  $("#clock").textContent = `mock clock ${health.now}`;
  $("#jobs-count").textContent = jobs.total > jobs.jobs.length ? `(newest ${jobs.jobs.length} of ${jobs.total})`
    : `(${jobs.total})`;
  fill("jobs", jobs.jobs.map(jobRow));
  fill("journal", journalRows(journal.entries, report.findings));
  fill("webhooks", webhooks.deliveries.map((delivery) => row([cell(delivery.id), cell(delivery.event),
    cell(delivery.url), cell(delivery.state), attempts(delivery)], delivery.id)));
  fill("wallets", Object.entries(wallets.wallets).map(([key, balance]) => row([cell(key), cell(balance),
    button("edit", () => { $("#wallet-key").value = key; $("#wallet-balance").value = balance; })], key)));
  fill("rules", rules.rules.map((rule) => row([cell(rule.id), cell(JSON.stringify(rule.match)),
    cell(JSON.stringify(rule.outcome)), cell(rule.remaining === null ? "always" : rule.remaining),
    rule.source === "admin" ? button("remove", () => call("DELETE", `/rules/${encodeURIComponent(rule.id)}`))
      : cell("config")], rule.id)));
  $("#updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

async function run(action) {
  try {
    await action();
    $("#problem").hidden = true;
    await refresh();
  } catch (error) {
    $("#problem").textContent = error.message;
    $("#problem").hidden = false;
  }
}

function onSubmit(id, action) {
  $(id).addEventListener("submit", (event) => { event.preventDefault(); run(action); });
}

onSubmit("#clock-form", () => call("POST", "/clock/advance", {seconds: Number($("#clock-seconds").value)}));
onSubmit("#wallet-form", () => call("PUT", `/wallets/${encodeURIComponent($("#wallet-key").value)}`,
  {balance: Number($("#wallet-balance").value)}));
onSubmit("#rule-form", () => call("POST", "/rules", JSON.parse($("#rule-json").value)));
onSubmit("#token-form", async () => {
  sessionStorage.setItem("flux-mock-admin-token", $("#token").value);
  $("#token-form").hidden = true;
});
onSubmit("#journal-filter", () => Promise.resolve());
for (const input of ["#filter-key", "#filter-operation", "#filter-problems"]) $(input).addEventListener("input", () => run(refresh));

const given = new URLSearchParams(location.search).get("token");
if (given) { sessionStorage.setItem("flux-mock-admin-token", given); history.replaceState(null, "", location.pathname); }

async function loop() {
  await run(refresh);
  setTimeout(loop, REFRESH_MS);
}
loop();
