// Paths are relative to `/internal/ui`, so the page also works behind a proxy that adds a prefix.

/** The page's shell: no data and no secret; the script fills it in once the token is given. */
export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Gateway status</title>
<link rel="stylesheet" href="ui/style.css">
<script type="module" src="ui/app.js"></script>
</head>
<body>
<header>
  <h1>Gateway status</h1>
  <div id="controls" hidden>
    <span id="updated" aria-live="polite"></span>
    <button id="pause" type="button" aria-pressed="false">Pause</button>
    <button id="refresh" type="button">Refresh now</button>
    <button id="sign-out" type="button">Sign out</button>
  </div>
</header>
<noscript><p class="error">This page needs JavaScript.</p></noscript>
<form id="login" method="post" hidden>
  <label for="token">Admin token</label>
  <input id="token" name="token" type="password" autocomplete="off" required minlength="16">
  <button type="submit">Show status</button>
  <p id="login-error" class="error" role="alert"></p>
  <p class="hint">The token stays in this browser tab (session storage) and goes out only in the
  <code>Authorization</code> header of this page's requests, never in a URL.</p>
</form>
<main id="status" hidden>
  <p id="problems" class="error" role="alert"></p>
  <section id="queues">
    <h2>Queues</h2>
    <table>
      <thead><tr><th>Queue</th><th>Waiting</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section id="workers">
    <h2>Workers</h2>
    <table>
      <thead><tr><th>Worker</th><th>Queue</th><th>State</th><th>Running</th>
        <th>Last heartbeat</th></tr></thead>
      <tbody></tbody>
    </table>
    <p class="empty" hidden>No workers.</p>
  </section>
  <section id="tasks">
    <h2>Tasks (this instance)</h2>
    <table>
      <thead><tr><th>Task</th><th>Sent</th><th>Succeeded</th><th>Retried</th><th>Failed</th>
      </tr></thead>
      <tbody></tbody>
    </table>
    <p class="empty" hidden>No task has run yet.</p>
  </section>
  <section id="dead-letters">
    <h2>Dead letters <span class="count"></span></h2>
    <table>
      <thead><tr><th>Job</th><th>Task</th><th>Queue</th><th>Attempts</th><th>Enqueued</th>
        <th>Last error</th><th></th></tr></thead>
      <tbody></tbody>
    </table>
    <p class="empty" hidden>No dead letters.</p>
  </section>
  <section id="failures">
    <h2>Recent upstream failures (this instance)</h2>
    <table>
      <thead><tr><th>When</th><th>Deployment</th><th>Provider</th><th>Model</th><th>Error</th>
        <th>Status</th><th>Latency</th><th>Trace id</th><th>Detail</th></tr></thead>
      <tbody></tbody>
    </table>
    <p class="empty" hidden>No upstream failures.</p>
  </section>
  <section id="circuits">
    <h2>Circuit breakers</h2>
    <table>
      <thead><tr><th>Deployment</th><th>Provider</th><th>Model</th><th>State</th></tr></thead>
      <tbody></tbody>
    </table>
    <p class="empty" hidden></p>
  </section>
  <section id="tenants">
    <h2>Tenants near their quota</h2>
    <p class="threshold"></p>
    <table>
      <thead><tr><th>Tenant</th><th>Id</th><th>Available</th><th>Balance</th><th>Reserved</th>
      </tr></thead>
      <tbody></tbody>
    </table>
    <p class="empty" hidden>No tenant is low on balance.</p>
  </section>
  <section id="keys">
    <h2>Keys near their budget</h2>
    <table>
      <thead><tr><th>Key</th><th>Tenant</th><th>Used</th><th>Spent</th><th>Reserved</th>
        <th>Budget</th></tr></thead>
      <tbody></tbody>
    </table>
    <p class="empty" hidden>No key is near its budget.</p>
  </section>
  <section id="budgets">
    <h2>Budgets this period</h2>
    <p class="threshold">The most used budgets of tenants and keys in their current period.</p>
    <table>
      <thead><tr><th>Tenant</th><th>Key</th><th>Period</th><th>Used</th><th>Spent</th>
        <th>Budget</th><th>Next reset</th></tr></thead>
      <tbody></tbody>
    </table>
    <p class="empty" hidden>No tenant or key has a budget.</p>
  </section>
</main>
</body>
</html>
`;

/** The page's style: plain tables, states in colour and in words. */
export const STATUS_PAGE_STYLE = `:root {
  color-scheme: light dark;
  font-family: system-ui, sans-serif;
  --ok: #1a7f37;
  --warn: #9a6700;
  --bad: #cf222e;
}
/* The script shows and hides parts with the hidden attribute; no display rule may undo it. */
[hidden] { display: none !important; }
body { margin: 1rem 2rem; }
header { display: flex; align-items: baseline; gap: 2rem; flex-wrap: wrap; }
h1 { font-size: 1.4rem; }
h2 { font-size: 1.1rem; margin-top: 1.5rem; }
#controls { display: flex; gap: 0.5rem; align-items: baseline; }
#updated { color: GrayText; margin-right: 1rem; }
form { display: grid; gap: 0.5rem; max-width: 28rem; }
table { border-collapse: collapse; min-width: 20rem; }
th, td { text-align: left; padding: 0.25rem 0.75rem; border-bottom: 1px solid #8884; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
td.detail { max-width: 32rem; overflow-wrap: anywhere; }
code, td.id { font-family: ui-monospace, monospace; font-size: 0.9em; }
.error { color: var(--bad); }
.error:empty { display: none; }
.hint, .threshold { color: GrayText; }
.state { font-weight: 600; }
.state-ok, .state-closed { color: var(--ok); }
.state-half_open, .state-idle { color: var(--warn); }
.state-bad, .state-open { color: var(--bad); }
`;
