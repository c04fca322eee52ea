// The editor page: picks a reader or a region mix, asks /api/preview,
// points the frame at /render, and reloads when /events says a file
// changed. No framework, no build step.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  // What is being previewed: {email} or {regions, tz}; null until picked.
  let current = null;
  let searchSeq = 0;
  let previewSeq = 0;

  function params() {
    const p = new URLSearchParams();
    if (current.email) {
      p.set("email", current.email);
    } else {
      p.set("regions", current.regions.join(","));
      if (current.tz) p.set("tz", current.tz);
    }
    const at = $("at").value;
    if (at) p.set("at", at);
    return p;
  }

  function setText(id, text) { $(id).textContent = text; }

  function showError(msg) {
    const e = $("error");
    e.textContent = msg;
    e.hidden = !msg;
  }

  async function load() {
    if (!current) return;
    const seq = ++previewSeq;
    setText("status", "Loading…");
    let resp, body;
    try {
      resp = await fetch("/api/preview?" + params().toString());
      body = await resp.json();
    } catch (err) {
      if (seq === previewSeq) { showError("The preview server did not answer: " + err); setText("status", "Error"); }
      return;
    }
    if (seq !== previewSeq) return; // a newer request is on its way
    if (!resp.ok) {
      showError(body.error || ("HTTP " + resp.status));
      setText("status", "Error");
      return;
    }
    showError(body.reload_error ? "Templates failed to reload; showing the last good ones: " + body.reload_error : "");
    render(body);
    setText("status", "Previewed " + (body.reader.made_up ? "a region mix" : body.reader.email) + " at " + body.at.replace(/\.\d+/, ""));
    document.body.dataset.previewed = body.reader.email + "|" + body.generated;
  }

  function render(b) {
    const r = b.reader;
    setText("reader", (r.made_up ? "Region mix " : r.name + " <" + r.email + "> ") +
      "· " + r.regions.join(", ") + " · " + r.time_zone + " · sends " + r.send_time + (r.status !== "active" ? " · " + r.status : ""));
    setText("subject", b.empty ? "(no email: nothing new)" : b.subject);
    setText("preheader", b.empty ? "—" : b.preheader);
    setText("when", b.date + (b.due ? " · due (send time " : " · not due yet (send time ") + b.due_at + ")");
    const kb = (n) => (n / 1024).toFixed(1) + " KB";
    const size = $("size");
    size.textContent = kb(b.html_bytes) + " of " + kb(b.html_limit) + (b.over_limit ? " — over the limit: Gmail clips it" : "");
    size.className = b.over_limit ? "over" : "";
    const frame = $("email");
    if (frame.getAttribute("src") !== b.render_url) {
      frame.dataset.loaded = "";
      frame.src = b.render_url;
    }
    setText("text", b.empty ? "(no email: nothing new for this reader at this time)" : b.text);

    const findings = $("findings");
    findings.replaceChildren();
    if (b.findings.length === 0) {
      const li = document.createElement("li");
      li.textContent = b.empty ? "—" : "No findings.";
      findings.append(li);
    }
    for (const f of b.findings) {
      const li = document.createElement("li");
      li.className = "sev-" + f.severity;
      li.textContent = f.severity + " · " + f.rule + (f.brief ? " (" + f.brief + ")" : "") + ": " + f.message;
      findings.append(li);
    }

    const tbody = $("briefs").tBodies[0];
    tbody.replaceChildren();
    for (const br of b.briefs) {
      const tr = document.createElement("tr");
      for (const v of [br.region_name + " (" + br.region + ")", br.headline, br.published_at, br.why]) {
        const td = document.createElement("td");
        td.textContent = v;
        tr.append(td);
      }
      tbody.append(tr);
    }
  }

  async function search() {
    const seq = ++searchSeq;
    const q = $("search").value.trim();
    let list;
    try {
      const resp = await fetch("/api/subscribers?q=" + encodeURIComponent(q));
      list = await resp.json();
      if (!resp.ok) { showError(list.error || ("HTTP " + resp.status)); return; }
    } catch (err) {
      showError("The preview server did not answer: " + err);
      return;
    }
    if (seq !== searchSeq) return;
    const ul = $("results");
    ul.replaceChildren();
    for (const r of list) {
      const li = document.createElement("li");
      const btn = document.createElement("button");
      btn.type = "button";
      btn.dataset.email = r.email;
      btn.textContent = r.email + (r.name ? " — " + r.name : "") + " (" + r.regions.join(", ") + ")" + (r.status !== "active" ? " [" + r.status + "]" : "");
      if (current && current.email === r.email) btn.setAttribute("aria-current", "true");
      btn.addEventListener("click", () => pickReader(r.email));
      li.append(btn);
      ul.append(li);
    }
  }

  function pickReader(email) {
    current = { email: email };
    for (const b of $("results").querySelectorAll("button")) {
      b.setAttribute("aria-current", b.dataset.email === email ? "true" : "false");
    }
    load();
  }

  function pickMix() {
    const regions = [...document.querySelectorAll("input[name=region]")]
      .filter((c) => c.checked).map((c) => c.value);
    // Keep the order in which they were ticked: it is the reader's order.
    regions.sort((a, b) => tickOrder.indexOf(a) - tickOrder.indexOf(b));
    if (regions.length === 0) { showError("Tick at least one region."); return; }
    current = { regions: regions, tz: $("tz").value.trim() };
    load();
  }

  const tickOrder = [];
  for (const c of document.querySelectorAll("input[name=region]")) {
    c.addEventListener("change", () => {
      const i = tickOrder.indexOf(c.value);
      if (i >= 0) tickOrder.splice(i, 1);
      if (c.checked) tickOrder.push(c.value);
    });
  }

  function width(w) {
    $("email").className = w;
    $("desktop").setAttribute("aria-pressed", w === "desktop" ? "true" : "false");
    $("phone").setAttribute("aria-pressed", w === "phone" ? "true" : "false");
  }

  // The frame is sandboxed (its document is out of reach), but its load
  // event says which email it shows: tests and screenshots wait for it.
  $("email").addEventListener("load", () => { $("email").dataset.loaded = $("email").getAttribute("src") || ""; });

  let searchTimer = 0;
  $("search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(search, 150);
  });
  $("controls").addEventListener("submit", (e) => e.preventDefault());
  $("show-mix").addEventListener("click", pickMix);
  $("at").addEventListener("change", load);
  $("desktop").addEventListener("click", () => width("desktop"));
  $("phone").addEventListener("click", () => width("phone"));

  // The server says "reload" when a template or brief file changed.
  // EventSource reconnects by itself when the server restarts.
  const events = new EventSource("/events");
  events.addEventListener("reload", () => { load(); search(); });

  search();
})();
