// gangway WhatsApp sandbox chat page. Plain JS, no build step, no external assets.
// Message text is only ever written with textContent, never parsed as HTML.
(function () {
  "use strict";

  const POLL_MS = 500;
  const NUMBER_RE = /^whatsapp:\+[1-9]\d{5,14}$/;

  const app = document.getElementById("app");
  const apiBase = app.dataset.apiBase;
  const transcript = document.getElementById("transcript");
  const empty = document.getElementById("empty");
  const input = document.getElementById("chat-input");
  const form = document.getElementById("composer");
  const numberInput = document.getElementById("prospect-number");
  const nameInput = document.getElementById("profile-name");
  const summary = document.getElementById("settings-summary");
  const banner = document.getElementById("banner");
  const live = document.getElementById("live");

  let number = numberInput.value.trim();
  let lastRev = 0;
  let generation = 0; // bumped when the prospect number changes; stale polls are dropped
  const nodes = new Map(); // message id -> element

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function showBanner(text) {
    banner.textContent = text;
    banner.hidden = !text;
  }

  function timeOf(iso) {
    const date = new Date(iso);
    return isNaN(date) ? "" : date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  // [label, css class, problem text or null] for a message's delivery state.
  function statusOf(m) {
    if (m.direction === "inbound") {
      if (m.webhook_error) return ["not delivered", "error", m.webhook_error];
      if (m.webhook_status === null) return ["sending…", "pending", null];
      const again = m.webhook_attempts > 1 ? " ×" + m.webhook_attempts : "";
      return ["✓ gangway " + m.webhook_status + again, "delivered", null];
    }
    const labels = { queued: "queued", sent: "✓ sent", delivered: "✓✓ delivered", read: "✓✓ read" };
    const problem = m.error_code ? "Error " + m.error_code + (m.error_message ? ": " + m.error_message : "") : null;
    return [labels[m.status] || m.status, m.status, problem];
  }

  function render(m) {
    const node = el("div", "msg " + m.direction);
    node.dataset.testid = "message-" + m.direction;
    node.dataset.id = String(m.id);
    node.dataset.sid = m.sid;
    node.dataset.status = m.status;

    if (m.direction === "inbound" && m.profile_name) node.title = m.profile_name;
    const body = el("div", "body", m.body);
    body.dataset.testid = "message-body";
    node.appendChild(body);
    if (m.content_sid) {
      node.appendChild(el("div", "extra", "Template " + m.content_sid + (m.content_variables ? " " + m.content_variables : "")));
    }
    for (const url of m.media_urls || []) node.appendChild(el("div", "extra", "📎 " + url));

    const [label, cls, problem] = statusOf(m);
    const meta = el("div", "meta");
    meta.appendChild(el("time", "time", timeOf(m.created_at)));
    const status = el("span", "status " + cls, label);
    status.dataset.testid = "message-status";
    meta.appendChild(status);
    node.appendChild(meta);
    if (problem) {
      const p = el("div", "problem", problem);
      p.dataset.testid = "message-problem";
      node.appendChild(p);
    }
    return node;
  }

  function upsert(m) {
    const fresh = render(m);
    const old = nodes.get(m.id);
    if (old) {
      old.replaceWith(fresh);
    } else {
      // Keep id order even if an older message arrives late.
      let before = null;
      for (const [id, node] of nodes) {
        if (id > m.id && (!before || id < Number(before.dataset.id))) before = node;
      }
      transcript.insertBefore(fresh, before);
    }
    nodes.set(m.id, fresh);
  }

  function reset() {
    generation += 1;
    lastRev = 0;
    nodes.forEach((node) => node.remove());
    nodes.clear();
    empty.hidden = false;
  }

  async function poll() {
    const mine = generation;
    try {
      const url = apiBase + "/messages?changed_after=" + lastRev + "&number=" + encodeURIComponent(number);
      const response = await fetch(url, { cache: "no-store" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const data = await response.json();
      if (live.classList.contains("down")) showBanner("");
      live.classList.remove("down");
      if (mine === generation) {
        const nearBottom = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 80;
        data.messages.forEach(upsert);
        if (data.rev < lastRev) reset(); // the sandbox was cleared or restarted
        else lastRev = data.rev;
        empty.hidden = nodes.size > 0;
        if (data.messages.length && nearBottom) transcript.scrollTop = transcript.scrollHeight;
      }
    } catch (err) {
      if (!live.classList.contains("down")) showBanner("Lost contact with the sandbox; retrying…");
      live.classList.add("down");
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  async function send() {
    const text = input.value;
    if (!text.trim()) return;
    if (!NUMBER_RE.test(number)) {
      showBanner("The prospect number must look like whatsapp:+12025550101.");
      return;
    }
    input.value = "";
    input.focus();
    showBanner("");
    try {
      const response = await fetch(apiBase + "/inbound", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ from: number, body: text, profile_name: nameInput.value.trim() || null }),
      });
      const data = await response.json().catch(() => ({}));
      if (!response.ok) {
        if (!input.value) input.value = text;
        showBanner("Not sent: " + (typeof data.detail === "string" ? data.detail : "HTTP " + response.status));
      } else if (data.webhook_error) {
        showBanner("gangway did not take the message: " + data.webhook_error);
      }
    } catch (err) {
      if (!input.value) input.value = text;
      showBanner("The sandbox is not reachable.");
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });

  numberInput.addEventListener("change", () => {
    const value = numberInput.value.trim();
    if (!NUMBER_RE.test(value)) {
      showBanner("The prospect number must look like whatsapp:+12025550101.");
      return;
    }
    showBanner("");
    if (value !== number) {
      number = value;
      summary.textContent = value;
      reset();
    }
  });

  poll();
  input.focus();
})();
