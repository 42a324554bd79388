// The pages of `voicecount listen --web`: panel (control), overlay (OBS), stage (one huge count).
// Everything shown that came from the run — keyword names, what the speaker said, status
// details — is data: it is written with textContent, never as HTML.
"use strict";
(() => {
  const params = new URLSearchParams(location.search);
  const token = params.get("token") || "";
  const page = document.body.dataset.page;
  const $ = (id) => document.getElementById(id);
  const api = (path) => `${path}?token=${encodeURIComponent(token)}`;

  // The look. The server refused the page if a parameter broke its rules; colours are checked again.
  for (const [param, prop] of [["fg", "--fg"], ["bg", "--bg"]]) {
    const value = params.get(param);
    if (value && CSS.supports("color", value)) document.body.style.setProperty(prop, value);
  }
  const size = Number(params.get("size"));
  if (size > 0) document.body.style.setProperty("--size", `${size}px`);
  // Keyword names in a parameter, read as the server checked them: "AI " and "AI," name AI.
  const namesIn = (key) => (params.get(key) || "").split(",").map((s) => s.trim()).filter(Boolean);
  const only = params.get("keywords") ? namesIn("keywords") : null;
  const showCaption = !["0", "off", "no", "false"].includes((params.get("caption") || "on").toLowerCase());
  const hideAfter = Number(params.get("hide") || 0) * 1000;
  const CAPTION_CHARS = 90; // the end of a long caption: the words being said now

  let state = null;
  let flashed = null; // the version of the last retraction flashed (null: no state seen yet)
  let rows = new Map();
  let rowsFor = "";

  function renderCounts(box) {
    const names = only ? only.filter((n) => n in state.counts) : state.keywords;
    const key = JSON.stringify(names);
    if (key !== rowsFor) {
      box.replaceChildren();
      rows = new Map();
      rowsFor = key;
      for (const name of names) {
        const label = document.createElement("span");
        label.className = "name";
        label.textContent = name;
        const count = document.createElement("span");
        count.className = "count";
        box.append(label, count);
        rows.set(name, count);
      }
    }
    for (const [name, el] of rows) setCount(el, name);
  }

  function setCount(el, name) {
    const text = String(state.counts[name] ?? 0);
    if (el.textContent !== text) el.textContent = text;
    el.classList.toggle("pending", (state.pending[name] || 0) > 0);
    const last = state.last;
    if (last && last.kind === "retracted" && last.keyword === name && last.at > flashed) {
      flashed = last.at;
      el.classList.add("retracted"); // withdrawn visibly: a short red flash
      setTimeout(() => el.classList.remove("retracted"), 600);
    }
  }

  let captionTimer = null;
  let shownCaption = null;
  function renderCaption(el) {
    if (!showCaption) {
      el.hidden = true;
      return;
    }
    const text = (state.caption || state.final || "").slice(-CAPTION_CHARS);
    if (text === shownCaption) return;
    shownCaption = text;
    el.textContent = text;
    el.classList.remove("faded");
    clearTimeout(captionTimer);
    if (hideAfter > 0) captionTimer = setTimeout(() => el.classList.add("faded"), hideAfter);
  }

  function render() {
    if ($("counts")) renderCounts($("counts"));
    if ($("caption")) renderCaption($("caption"));
    if ($("status")) {
      $("status").textContent = state.status_text + (state.detail ? ` — ${state.detail}` : "");
      $("dot").dataset.status = state.status;
      $("pause").textContent = state.paused ? "Resume" : "Pause";
    }
    if (page === "stage") {
      const name = namesIn("keyword")[0] || state.keywords[0] || "";
      $("name").textContent = name;
      setCount($("count"), name);
    }
  }

  // The live stream, reconnecting by itself (a restarted server is found again within a second or so).
  function setOnline(online) {
    $("offline").hidden = online;
  }
  function connect() {
    const stream = new EventSource(api("/api/events"));
    stream.addEventListener("state", (e) => {
      setOnline(true);
      state = JSON.parse(e.data);
      const at = state.last ? state.last.at : 0;
      // The first state, or a restarted server's (versions start again): what happened before is not news.
      if (flashed === null || at < flashed) flashed = at;
      render();
    });
    stream.onerror = () => {
      setOnline(false);
      stream.close();
      setTimeout(connect, 1000);
    };
  }

  async function control(action) {
    const error = $("error");
    try {
      const response = await fetch(api(`/api/${action}`), { method: "POST" });
      if (!response.ok) throw new Error((await response.text()).trim());
      error.hidden = true;
    } catch (e) {
      error.textContent = `${action} failed: ${e.message || e}`;
      error.hidden = false;
    }
  }

  if (page === "panel") {
    $("pause").addEventListener("click", () => control(state && state.paused ? "resume" : "pause"));
    $("undo").addEventListener("click", () => control("undo"));
    $("reset").addEventListener("click", () => {
      if (confirm("Reset every count to zero?")) control("reset");
    });
    for (const name of ["overlay", "stage"]) {
      const url = new URL(`/${name}`, location.href);
      url.search = new URLSearchParams({ token }).toString();
      $(`${name}-link`).href = url.href;
      $(`${name}-link`).textContent = url.href;
    }
  }
  connect();
})();
