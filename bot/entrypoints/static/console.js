// gangway advisor console: keeps the queue page current by polling /console/queue.json.
// Plain JS, no build step. Text from the server is only ever written with textContent.
(function () {
  "use strict";

  const queue = document.getElementById("queue");
  if (!queue) return;
  const pollUrl = queue.dataset.pollUrl;
  const pollMs = Number(queue.dataset.pollMs) || 3000;
  const csrf = queue.dataset.csrf;
  const rows = document.getElementById("queue-rows");
  const table = document.getElementById("queue-table");
  const empty = document.getElementById("queue-empty");
  const updated = document.getElementById("queue-updated");
  const problem = document.getElementById("queue-problem");
  const count = document.getElementById("queue-count");
  let lastCount = rows.children.length;

  function waited(seconds) {
    if (seconds < 60) return seconds + " s";
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + " min";
    return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }

  function cell(text, testid) {
    const td = document.createElement("td");
    td.textContent = text;
    if (testid) td.dataset.testid = testid;
    return td;
  }

  function actionForm(h, action, label, quiet) {
    const form = document.createElement("form");
    form.method = "post";
    form.action = "/console/handoffs/" + h.id + "/" + action;
    form.className = "inline";
    for (const [name, value] of [["csrf", csrf], ["back", "queue"]]) {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = value;
      form.appendChild(input);
    }
    const button = document.createElement("button");
    button.type = "submit";
    button.textContent = label;
    button.dataset.testid = action;
    button.setAttribute("aria-label", label + " handoff " + h.id);
    if (quiet) button.className = "quiet";
    form.appendChild(button);
    return form;
  }

  function row(h) {
    const tr = document.createElement("tr");
    tr.dataset.testid = "handoff-row";
    tr.dataset.handoffId = String(h.id);
    const first = document.createElement("td");
    const link = document.createElement("a");
    link.href = "/console/handoffs/" + h.id;
    link.textContent = "#" + h.id;
    link.dataset.testid = "handoff-link";
    first.appendChild(link);
    tr.appendChild(first);
    tr.appendChild(cell(h.status, "handoff-status"));
    tr.appendChild(cell(h.queue));
    tr.appendChild(cell(h.language || "—"));
    const level = cell("");
    const badge = document.createElement("span");
    badge.className = "level level-" + h.level;
    badge.textContent = h.level;
    level.appendChild(badge);
    tr.appendChild(level);
    tr.appendChild(cell(h.reason === "human_request" ? "asked for a person" : "reached the threshold"));
    tr.appendChild(cell(waited(h.waiting_seconds), "handoff-waiting"));
    tr.appendChild(cell(h.assignee || "—", "handoff-assignee"));
    const actions = cell("");
    actions.className = "actions";
    const may = h.actions || [];
    if (may.includes("claim") && h.status !== "claimed") {
      actions.appendChild(actionForm(h, "claim", "Claim", false));
    }
    if (may.includes("release")) {
      actions.appendChild(actionForm(h, "release", "Release", true));
    }
    tr.appendChild(actions);
    return tr;
  }

  function render(data) {
    // Leave the list alone while someone is on one of its buttons or links.
    if (rows.contains(document.activeElement)) return false;
    rows.replaceChildren(...data.handoffs.map(row));
    table.hidden = data.handoffs.length === 0;
    empty.hidden = data.handoffs.length !== 0;
    const at = new Date(data.updated_at);
    updated.dateTime = data.updated_at;
    updated.textContent = at.toISOString().slice(11, 19) + " UTC";
    if (data.handoffs.length !== lastCount) {
      count.textContent = data.handoffs.length + " handoffs in your queue";
      lastCount = data.handoffs.length;
    }
    return true;
  }

  async function poll() {
    try {
      const response = await fetch(pollUrl, { credentials: "same-origin", cache: "no-store" });
      if (response.status === 401) {
        problem.textContent = "Your session ended. ";
        const link = document.createElement("a");
        link.href = "/console/sign-in?ended=1";
        link.textContent = "Sign in again";
        problem.appendChild(link);
        problem.hidden = false;
        return; // stop polling
      }
      if (!response.ok) throw new Error("HTTP " + response.status);
      render(await response.json());
      problem.hidden = true;
    } catch (err) {
      problem.textContent = "The queue could not be updated (" + err.message + "); retrying.";
      problem.hidden = false;
    }
    window.setTimeout(poll, pollMs);
  }

  window.setTimeout(poll, pollMs);
})();

// The handoff page's secure chat: new messages of either side appear without a reload.
(function () {
  "use strict";

  const list = document.getElementById("secure-transcript");
  if (!list || !list.dataset.pollUrl) return;
  const pollUrl = list.dataset.pollUrl;
  const pollMs = Number(list.dataset.pollMs) || 3000;
  let shown = list.querySelectorAll('[data-testid="secure-line"]').length;

  function line(m) {
    const li = document.createElement("li");
    li.className = "msg " + (m.author === "prospect" ? "inbound" : "outbound");
    li.dataset.testid = "secure-line";
    li.dataset.author = m.author;
    const meta = document.createElement("div");
    meta.className = "meta";
    const from = document.createElement("span");
    from.className = "from";
    from.textContent = m.author === "prospect" ? "Prospect" : (m.advisor || "Advisor");
    const at = document.createElement("time");
    at.dateTime = m.at;
    at.textContent = m.at.slice(0, 16).replace("T", " ") + " UTC";
    meta.append(from, " ", at);
    if (m.author === "advisor") {
      const seen = document.createElement("span");
      seen.className = "muted";
      seen.textContent = m.seen ? " seen" : " not seen yet";
      meta.appendChild(seen);
    }
    li.appendChild(meta);
    if (m.text) {
      const text = document.createElement("p");
      text.className = "text";
      text.dataset.testid = "secure-text-line";
      text.textContent = m.text;
      li.appendChild(text);
    }
    if (m.file) {
      const p = document.createElement("p");
      const link = document.createElement("a");
      link.href = m.file.url;
      link.setAttribute("download", "");
      link.dataset.testid = "secure-file-link";
      link.textContent = m.file.name;
      p.appendChild(link);
      li.appendChild(p);
    }
    return li;
  }

  async function poll() {
    try {
      const response = await fetch(pollUrl, { credentials: "same-origin", cache: "no-store" });
      if (response.status === 401) return; // signed out: the next click says so
      if (response.ok) {
        const data = await response.json();
        if (data.messages.length !== shown) {
          list.replaceChildren(...data.messages.map(line));
          shown = data.messages.length;
        }
      }
    } catch (err) {
      // The next poll tries again; the page itself still works.
    }
    window.setTimeout(poll, pollMs);
  }

  window.setTimeout(poll, pollMs);
})();
