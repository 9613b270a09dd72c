// gangway secure chat: sends the prospect's messages and polls for new ones.
// Plain JS, no build step. Text from the server is only ever written with textContent.
(function () {
  "use strict";

  const chat = document.getElementById("secure-chat");
  if (!chat) return;
  const list = document.getElementById("secure-messages");
  const empty = document.getElementById("secure-empty");
  const problem = document.getElementById("secure-error");
  const form = document.getElementById("secure-form");
  const text = document.getElementById("secure-text");
  const file = document.getElementById("secure-file");
  const send = document.getElementById("secure-send");
  const d = chat.dataset;
  const maxBytes = Number(d.maxBytes) || 10485760;
  let after = Number(d.after) || 0;
  let busy = false;

  function show(message) {
    problem.textContent = message || "";
    problem.hidden = !message;
  }

  // Hours on the prospect's own clock (the phone's time zone): the page is rendered in
  // UTC, so the times it came with are written again here, as new messages are.
  function clock(iso) {
    return new Date(iso).toTimeString().slice(0, 5);
  }

  for (const at of list.querySelectorAll("time[datetime]")) {
    at.textContent = clock(at.dateTime);
  }

  function item(m) {
    const li = document.createElement("li");
    li.className = "msg " + m.author;
    li.dataset.testid = "secure-message";
    li.dataset.id = String(m.id);
    li.dataset.author = m.author;
    const from = document.createElement("span");
    from.className = "from";
    from.textContent = m.author === "prospect" ? d.you : (m.advisor || d.advisor);
    li.appendChild(from);
    const at = document.createElement("time");
    at.dateTime = m.at;
    at.textContent = clock(m.at);
    li.appendChild(at);
    if (m.text) {
      const p = document.createElement("p");
      p.className = "text";
      p.textContent = m.text;
      li.appendChild(p);
    }
    if (m.file) {
      const a = document.createElement("a");
      a.className = "file";
      a.href = "/secure/chat/files/" + m.id;
      a.setAttribute("download", "");
      a.dataset.testid = "secure-file-link";
      a.textContent = d.download + ": " + m.file.name;
      li.appendChild(a);
    }
    return li;
  }

  function add(messages) {
    for (const m of messages) {
      if (m.id <= after) continue;
      list.appendChild(item(m));
      after = m.id;
    }
    empty.hidden = list.children.length > 0;
    if (messages.length) list.lastElementChild.scrollIntoView({ block: "end" });
  }

  async function poll() {
    try {
      const response = await fetch(d.pollUrl + "?after=" + after, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (response.status === 401 || response.status === 403) {
        window.location.reload(); // the page then says how to come back
        return;
      }
      if (response.ok) add((await response.json()).messages);
    } catch (e) {
      // offline for a moment: the next poll tries again
    }
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    if (busy) return;
    const chosen = file.files && file.files[0];
    if (chosen && chosen.size > maxBytes) {
      show(d.tooLarge);
      return;
    }
    if (!text.value.trim() && !chosen) return;
    busy = true;
    send.disabled = true;
    try {
      const response = await fetch(d.postUrl, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "application/json", "X-CSRF-Token": d.csrf },
        credentials: "same-origin",
      });
      if (response.status === 401 || response.status === 403) {
        window.location.reload();
        return;
      }
      if (response.status === 413) {
        show(d.tooLarge);
      } else if (!response.ok) {
        show(d.notSent);
      } else {
        show("");
        form.reset();
        await poll(); // in order with whatever the advisor wrote meanwhile
      }
    } catch (e) {
      show(d.notSent);
    } finally {
      busy = false;
      send.disabled = false;
    }
  });

  text.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  // Away as soon as the page is closed or hidden (another app, the phone locked): the
  // advisor's next message then brings a WhatsApp notice. Looking again is a poll.
  function left() {
    const data = new FormData();
    data.append("csrf", d.csrf);
    navigator.sendBeacon(d.postUrl.replace(/\/messages$/, "/leave"), data);
  }
  window.addEventListener("pagehide", left);
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) left();
    else poll();
  });

  add([]);
  window.setInterval(function () {
    if (!document.hidden) poll();
  }, 3000);
})();
