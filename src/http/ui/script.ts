// The page's one script, an ES module. Data reaches the page only through textContent, never
// through innerHTML, so a tenant named `<img onerror=...>` stays text. The admin token lives in
// sessionStorage (this tab only, gone when it closes) and goes out only as a bearer header.
// Written without template literals, since it sits inside one.

/** The status page's script, served as `/internal/ui/app.js`. */
export const STATUS_PAGE_SCRIPT = `const TOKEN_KEY = "gateway.adminToken";
const REFRESH_MS = 5000;
const THRESHOLD_PARAMS = ["low_balance_usd", "key_budget_ratio"];

const byId = (id) => document.getElementById(id);
let timer;
let paused = false;
// Only the latest refresh may draw and schedule the next one; an older one still in flight
// (say, when a redrive refreshes at once) is dropped when it returns.
let generation = 0;

class Unauthorized extends Error {}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function node(tag, text, className) {
  const element = document.createElement(tag);
  if (text !== undefined && text !== null) element.textContent = String(text);
  if (className) element.className = className;
  return element;
}

function row(cells, attributes) {
  const tr = document.createElement("tr");
  for (const [name, value] of Object.entries(attributes || {})) tr.setAttribute(name, value);
  for (const cell of cells) tr.append(cell instanceof Node ? cell : node("td", cell));
  return tr;
}

function numberCell(value) {
  return node("td", value, "number");
}

function stateCell(text, state) {
  return node("td", text, "state state-" + state);
}

function timeCell(iso) {
  const cell = node("td", ago(iso));
  cell.title = iso;
  return cell;
}

function ago(iso) {
  const seconds = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 5) return "just now";
  if (seconds < 90) return seconds + " s ago";
  if (seconds < 5400) return Math.round(seconds / 60) + " min ago";
  if (seconds < 129600) return Math.round(seconds / 3600) + " h ago";
  return Math.round(seconds / 86400) + " d ago";
}

function usd(value) {
  return value.toLocaleString("en-US", {
    style: "currency",
    currency: "USD",
    maximumFractionDigits: 6,
  });
}

function fill(sectionId, rows, emptyText) {
  const section = byId(sectionId);
  section.querySelector("tbody").replaceChildren(...rows);
  section.querySelector("table").hidden = rows.length === 0;
  const empty = section.querySelector(".empty");
  if (empty) {
    if (emptyText) empty.textContent = emptyText;
    empty.hidden = rows.length > 0;
  }
}

function renderQueues(queues) {
  const depths = queues ? Object.entries(queues.depths) : [];
  fill("queues", depths.map(([name, depth]) =>
    row([node("td", name), numberCell(depth)], { "data-queue": name })
  ));
  const workers = queues ? queues.workers : [];
  fill("workers", workers.map((worker) =>
    row([
      node("td", worker.id, "id"),
      node("td", worker.queue),
      worker.alive
        ? stateCell(worker.active > 0 ? "busy" : "idle", worker.active > 0 ? "ok" : "idle")
        : stateCell("dead", "bad"),
      numberCell(worker.active),
      timeCell(worker.last_seen),
    ])
  ));
  const tasks = queues ? Object.entries(queues.tasks) : [];
  fill("tasks", tasks.map(([task, stats]) =>
    row([
      node("td", task),
      numberCell(stats.sent),
      numberCell(stats.succeeded),
      numberCell(stats.retried),
      numberCell(stats.failed),
    ], { "data-task": task })
  ));
}

function renderDeadLetters(dead) {
  const jobs = dead ? dead.data : [];
  byId("dead-letters").querySelector(".count").textContent =
    dead && dead.total !== null ? "(" + dead.total + ")" : "";
  fill("dead-letters", jobs.map((job) => {
    const button = node("button", "Redrive");
    button.type = "button";
    button.addEventListener("click", () => redrive(job.id, button));
    const action = document.createElement("td");
    action.append(button);
    return row([
      node("td", job.id, "id"),
      node("td", job.task),
      node("td", job.queue),
      numberCell(job.attempts),
      timeCell(job.enqueued_at),
      node("td", job.last_error, "detail"),
      action,
    ], { "data-job": job.id });
  }));
}

function renderFailures(failures) {
  fill("failures", failures.map((failure) =>
    row([
      timeCell(failure.at),
      node("td", failure.deployment, "id"),
      node("td", failure.provider),
      node("td", failure.upstream_model && failure.upstream_model !== failure.model
        ? failure.model + " → " + failure.upstream_model
        : failure.model),
      stateCell(failure.error_class, "bad"),
      numberCell(failure.upstream_status === null ? "" : failure.upstream_status),
      numberCell(failure.latency_ms === null ? "" : failure.latency_ms + " ms"),
      node("td", failure.trace_id, "id"),
      node("td", failure.detail, "detail"),
    ])
  ));
}

function renderCircuits(circuits, problem) {
  const list = circuits || [];
  const labels = { closed: "closed", half_open: "half-open", open: "open" };
  fill(
    "circuits",
    list.map((circuit) =>
      row([
        node("td", circuit.deployment, "id"),
        node("td", circuit.provider),
        node("td", circuit.model),
        stateCell(labels[circuit.state] || circuit.state, circuit.state),
      ], { "data-deployment": circuit.deployment })
    ),
    circuits === null && !problem ? "No circuit breakers configured." : "No circuits yet.",
  );
}

function renderNearQuota(nearQuota) {
  const threshold = byId("tenants").querySelector(".threshold");
  threshold.textContent = nearQuota
    ? "Tenants with less than " + usd(nearQuota.low_balance_usd) +
      " available; keys that used " + Math.round(nearQuota.key_budget_ratio * 100) +
      " % or more of their budget."
    : "";
  fill("tenants", (nearQuota ? nearQuota.tenants : []).map((tenant) =>
    row([
      node("td", tenant.name),
      node("td", tenant.id, "id"),
      stateCell(usd(tenant.available_usd), tenant.available_usd <= 0 ? "bad" : "idle"),
      numberCell(usd(tenant.balance_usd)),
      numberCell(usd(tenant.reserved_usd)),
    ], { "data-tenant": tenant.id })
  ));
  fill("keys", (nearQuota ? nearQuota.keys : []).map((key) =>
    row([
      node("td", key.name + " (" + key.prefix + "…)"),
      node("td", key.tenant_name),
      stateCell(Math.round(key.used_ratio * 100) + " %", key.used_ratio >= 1 ? "bad" : "idle"),
      numberCell(usd(key.spent_usd)),
      numberCell(usd(key.reserved_usd)),
      numberCell(usd(key.budget_usd)),
    ], { "data-key": key.id })
  ));
}

function renderBudgets(budgets) {
  fill("budgets", (budgets || []).map((budget) =>
    row([
      node("td", budget.tenant_id, "id"),
      node("td", budget.api_key_id || "the tenant's own", budget.api_key_id ? "id" : undefined),
      node("td", budget.budget_period || "lifetime"),
      stateCell(
        Math.round(budget.used_ratio * 100) + " %",
        budget.used_ratio >= 1 ? "bad" : budget.used_ratio >= 0.9 ? "idle" : "ok",
      ),
      numberCell(usd(budget.period_spend_usd)),
      numberCell(usd(budget.budget_usd)),
      node("td", budget.next_reset_at ? new Date(budget.next_reset_at).toLocaleString() : "never"),
    ], { "data-tenant": budget.tenant_id, "data-key": budget.api_key_id || "" })
  ));
}

function render(status) {
  renderQueues(status.queues);
  renderDeadLetters(status.dead_letters);
  renderFailures(status.upstream_failures);
  renderCircuits(status.circuits, status.unavailable.circuits);
  renderNearQuota(status.near_quota);
  renderBudgets(status.budgets);
  byId("problems").textContent = Object.values(status.unavailable).join(" ");
  const updated = byId("updated");
  updated.textContent = "Updated " + new Date(status.generated_at).toLocaleTimeString();
  updated.title = status.generated_at;
}

async function call(path, method) {
  const response = await fetch(path, {
    method: method || "GET",
    headers: { authorization: "Bearer " + token(), accept: "application/json" },
    cache: "no-store",
    credentials: "omit",
  });
  if (response.status === 401) throw new Unauthorized();
  if (!response.ok) {
    let message = "HTTP " + response.status;
    try {
      message = (await response.json()).error.message;
    } catch {
      // Not the gateway's error body: the status code is all there is.
    }
    throw new Error(message);
  }
  return await response.json();
}

function statusPath() {
  const own = new URLSearchParams(location.search);
  const query = new URLSearchParams();
  for (const name of THRESHOLD_PARAMS) if (own.has(name)) query.set(name, own.get(name));
  const text = query.toString();
  return text ? "status?" + text : "status";
}

async function refresh() {
  clearTimeout(timer);
  const run = ++generation;
  if (!token()) return showLogin("");
  let status;
  let failure;
  try {
    status = await call(statusPath());
  } catch (error) {
    failure = error;
  }
  if (run !== generation) return;
  if (failure instanceof Unauthorized) return signOut("The admin token was refused.");
  if (failure) byId("problems").textContent = "Could not load the status: " + failure.message;
  else render(status);
  if (!paused) timer = setTimeout(refresh, REFRESH_MS);
}

async function redrive(jobId, button) {
  button.disabled = true;
  try {
    await call("queues/dead/" + encodeURIComponent(jobId) + "/redrive", "POST");
  } catch (error) {
    if (error instanceof Unauthorized) return signOut("The admin token was refused.");
    byId("problems").textContent = "Could not redrive " + jobId + ": " + error.message;
    button.disabled = false;
    return;
  }
  await refresh();
}

function showLogin(message) {
  byId("status").hidden = true;
  byId("controls").hidden = true;
  byId("login").hidden = false;
  byId("login-error").textContent = message;
  byId("token").focus();
}

function signOut(message) {
  clearTimeout(timer);
  generation++;
  sessionStorage.removeItem(TOKEN_KEY);
  // Nothing of the last data stays on the page once signed out.
  for (const body of document.querySelectorAll("tbody")) body.replaceChildren();
  showLogin(message);
}

function showStatus() {
  byId("login").hidden = true;
  byId("status").hidden = false;
  byId("controls").hidden = false;
  refresh();
}

byId("login").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = byId("token");
  sessionStorage.setItem(TOKEN_KEY, input.value.trim());
  input.value = "";
  showStatus();
});

byId("pause").addEventListener("click", (event) => {
  paused = !paused;
  event.target.textContent = paused ? "Resume" : "Pause";
  event.target.setAttribute("aria-pressed", String(paused));
  if (paused) clearTimeout(timer);
  else refresh();
});

byId("refresh").addEventListener("click", () => refresh());
byId("sign-out").addEventListener("click", () => signOut(""));

if (token()) showStatus();
else showLogin("");
`;
