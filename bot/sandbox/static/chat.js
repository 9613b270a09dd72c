// gangway WhatsApp sandbox chat page. Plain JS, no build step, no external assets.
// Message text is only ever written with textContent, never parsed as HTML.
(function () {
  "use strict";

  const POLL_MS = 500;
  const NUMBER_RE = /^whatsapp:\+[1-9]\d{5,14}$/;
  const MAX_MEDIA_BYTES = 16 * 1024 * 1024;
  // Invented data for the "share" actions: a landmark-like place and a reserved number.
  const EXAMPLE_LOCATION = { latitude: 48.8584, longitude: 2.2945, label: "Example Place", address: "1 Example Avenue, Paris" };
  const EXAMPLE_VCARD = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Example;Alex;;;\r\nFN:Alex Example\r\nTEL;TYPE=CELL:+12025550142\r\nEND:VCARD\r\n";

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
  const attachInput = document.getElementById("attach-input");
  const locationButton = document.getElementById("share-location");
  const contactButton = document.getElementById("share-contact");

  let number = numberInput.value.trim();
  let lastRev = 0;
  let generation = 0; // bumped when the prospect number changes; stale polls are dropped
  const nodes = new Map(); // message id -> element
  const tapped = new Set(); // sids of messages whose quick reply was tapped here

  // A business message's http(s) links become clickable (as in WhatsApp); the text
  // around them stays text nodes, so nothing in a message is ever parsed as HTML.
  function linked(text) {
    const node = el("div", "body");
    const pattern = /https?:\/\/[^\s<>"]+/g;
    let last = 0;
    for (const match of (text || "").matchAll(pattern)) {
      const url = match[0].replace(/[.,;:!?)]+$/, "");
      node.appendChild(document.createTextNode(text.slice(last, match.index)));
      const a = el("a", null, url);
      a.href = url;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      node.appendChild(a);
      last = match.index + url.length;
    }
    node.appendChild(document.createTextNode((text || "").slice(last)));
    return node;
  }

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
    // As in WhatsApp, media come first and the text is their caption (often empty).
    for (const item of m.media || []) node.appendChild(renderMedia(item));
    if (m.body || !(m.media && m.media.length) && !m.location) {
      const body = m.direction === "outbound" ? linked(m.body) : el("div", "body", m.body);
      body.dataset.testid = "message-body";
      node.appendChild(body);
    }
    if (m.location) {
      const where = el("div", "extra location", "Location: " + [m.location.Label, m.location.Address].filter(Boolean).join(", ") + " (" + m.location.Latitude + ", " + m.location.Longitude + ")");
      where.dataset.testid = "message-location";
      node.appendChild(where);
    }
    if (m.button_payload) {
      const chosen = el("div", "extra", "tapped a quick reply");
      chosen.dataset.testid = "message-button-reply";
      node.appendChild(chosen);
    }
    if (m.content_sid) {
      // The variables are already in the body above; the template sid is enough here.
      node.appendChild(el("div", "extra", "template " + m.content_sid));
    }

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
    if (m.buttons && m.buttons.length) node.appendChild(renderButtons(m));
    return node;
  }

  function renderMedia(item) {
    const type = item.content_type || "";
    if (item.preview && type.startsWith("image/")) {
      const img = document.createElement("img");
      img.className = "media-image";
      img.src = item.preview;
      img.alt = item.filename || "image";
      img.dataset.testid = "message-image";
      return img;
    }
    const isContact = type === "text/vcard" || type === "text/x-vcard";
    const label = isContact ? "Contact card" + (item.filename ? " (" + item.filename + ")" : "") : "File: " + (item.filename || type || item.url);
    const node = el(item.preview ? "a" : "div", "extra media-file", label);
    if (item.preview) {
      node.href = item.preview;
      node.target = "_blank";
      node.rel = "noopener";
    }
    node.dataset.testid = isContact ? "message-contact" : "message-file";
    return node;
  }

  // Quick replies show under the bubble, like WhatsApp; one tap answers, then they lock.
  function renderButtons(m) {
    const row = el("div", "quick-replies");
    row.dataset.testid = "quick-replies";
    const locked = m.direction !== "outbound" || m.button_tapped || tapped.has(m.sid);
    for (const button of m.buttons) {
      const b = el("button", "quick-reply", button.title);
      b.type = "button";
      b.dataset.testid = "quick-reply";
      b.dataset.id = button.id;
      b.disabled = Boolean(locked);
      if (m.button_tapped === button.id) b.classList.add("chosen");
      b.addEventListener("click", () => tap(m, button, row));
      row.appendChild(b);
    }
    return row;
  }

  async function tap(m, button, row) {
    if (tapped.has(m.sid)) return;
    tapped.add(m.sid);
    row.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    const ok = await postInbound({ button: { message_sid: m.sid, id: button.id } });
    if (!ok) {
      tapped.delete(m.sid);
      row.querySelectorAll("button").forEach((b) => { b.disabled = false; });
    }
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

  function checkNumber() {
    if (NUMBER_RE.test(number)) return true;
    showBanner("The prospect number must look like whatsapp:+12025550101.");
    return false;
  }

  // POST one prospect message; true when the sandbox took it. Problems go to the banner.
  async function postInbound(fields) {
    if (!checkNumber()) return false;
    showBanner("");
    try {
      const response = await fetch(apiBase + "/inbound", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(Object.assign({ from: number, profile_name: nameInput.value.trim() || null }, fields)),
      });
      const data = await response.json().catch(() => ({}));
      if (!response.ok) {
        const detail = typeof data.detail === "string" ? data.detail : "HTTP " + response.status;
        showBanner("Not sent: " + detail);
        return false;
      }
      if (data.webhook_error) showBanner("gangway did not take the message: " + data.webhook_error);
      return true;
    } catch (err) {
      showBanner("The sandbox is not reachable.");
      return false;
    }
  }

  async function send() {
    const text = input.value;
    if (!text.trim() || !checkNumber()) return;
    input.value = "";
    input.focus();
    const ok = await postInbound({ body: text });
    if (!ok && !input.value) input.value = text;
  }

  function base64Of(buffer) {
    const bytes = new Uint8Array(buffer);
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(binary);
  }

  // A file goes out as media; text already typed becomes its caption, as in WhatsApp.
  async function sendFile(file) {
    if (file.size > MAX_MEDIA_BYTES) {
      showBanner("Files up to 16 MB only.");
      return;
    }
    const caption = input.value;
    input.value = "";
    const data = base64Of(await file.arrayBuffer());
    const media = [{ content_type: file.type || "application/octet-stream", data: data, filename: file.name || null }];
    const ok = await postInbound({ body: caption, media: media });
    if (!ok && !input.value) input.value = caption;
  }

  attachInput.addEventListener("change", () => {
    const file = attachInput.files && attachInput.files[0];
    attachInput.value = "";
    if (file) sendFile(file);
  });

  locationButton.addEventListener("click", () => postInbound({ location: EXAMPLE_LOCATION }));

  contactButton.addEventListener("click", () => postInbound({
    media: [{ content_type: "text/vcard", data: btoa(EXAMPLE_VCARD), filename: "Alex Example.vcf" }],
  }));

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
