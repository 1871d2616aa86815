// The medqa page: no framework, no build step. Model output is inserted as text, never as HTML.
"use strict";

const LETTERS = "ABCDE";
const $ = (id) => document.getElementById(id);
let examples = [];

function apiKey() {
  return sessionStorage.getItem("medqa-api-key") || "";
}

function headers() {
  const h = { "Content-Type": "application/json" };
  if (apiKey()) h["Authorization"] = "Bearer " + apiKey();
  return h;
}

function setStatus(text, isError) {
  const s = $("status");
  s.textContent = text;
  s.className = isError ? "error" : "";
}

function optionInputs() {
  return Array.from($("options").querySelectorAll("input"));
}

function addOption(value) {
  if (optionInputs().length >= 5) return;
  const li = document.createElement("li");
  const input = document.createElement("input");
  input.maxLength = 1000;
  input.value = value || "";
  input.setAttribute("aria-label", "Option " + LETTERS[optionInputs().length]);
  li.appendChild(input);
  $("options").appendChild(li);
}

function setOptions(values) {
  $("options").textContent = "";
  for (const v of values) addOption(v);
  while (optionInputs().length < 2) addOption("");
}

function needKey(message) {
  $("key-row").hidden = false;
  setStatus(message + " Enter the API key and ask again.", true);
}

async function loadModelInfo() {
  const r = await fetch("/v1/models", { headers: headers() });
  if (r.status === 401) { needKey("This server needs an API key."); return; }
  const body = await r.json();
  const m = body.data[0];
  const p = m.medqa || {};
  const dl = $("model-info");
  dl.textContent = "";
  const row = (k, v) => {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v;
    dl.append(dt, dd);
  };
  row("Served as", m.id);
  row("Base model", p.base_model || "?");
  if (!p.adapter) { row("Adapter", "none (base model only)"); return; }
  row("Adapter", p.adapter.path);
  const run = p.adapter.run;
  if (!run) { row("Provenance", "no run.json next to the adapter"); return; }
  if (run.finished || run.started) row("Trained", (run.finished || run.started) + (run.status ? " (" + run.status + ")" : ""));
  if (run.medqa_version) row("medqa version", run.medqa_version);
  for (const [file, sha] of Object.entries(run.base_model_sha256 || {})) row("Base sha256", file + ": " + sha);
  for (const [file, sha] of Object.entries(run.data_sha256 || {})) row("Data sha256", file + ": " + sha);
}

async function loadExamples() {
  examples = await (await fetch("/examples.json")).json();
  const select = $("example");
  examples.forEach((e, i) => {
    const o = document.createElement("option");
    o.value = String(i);
    o.textContent = e.title;
    select.appendChild(o);
  });
}

function showScores(event) {
  $("result").hidden = false;
  $("letter").textContent = event.letter;
  const bars = $("bars");
  bars.textContent = "";
  const names = optionInputs().map((i) => i.value);
  for (const [letter, p] of Object.entries(event.probabilities)) {
    const bar = document.createElement("div");
    bar.className = "bar" + (letter === event.letter ? " best" : "");
    bar.dataset.letter = letter;
    const l = document.createElement("span"); l.textContent = letter;
    const track = document.createElement("div"); track.className = "track";
    const fill = document.createElement("div"); fill.className = "fill"; fill.style.width = (100 * p).toFixed(1) + "%";
    track.appendChild(fill);
    const pct = document.createElement("span"); pct.className = "pct"; pct.textContent = (100 * p).toFixed(1) + "%";
    const name = document.createElement("span"); name.className = "name"; name.textContent = names[LETTERS.indexOf(letter)] || "";
    bar.append(l, track, pct, name);
    bars.appendChild(bar);
  }
}

// Server-sent events over fetch (EventSource cannot POST): frames end with a blank line.
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message", data = "";
      for (const line of frame.split("\n")) {
        if (line.startsWith("event: ")) name = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (data) onEvent(name, JSON.parse(data));
    }
  }
}

async function ask() {
  if (!$("key-row").hidden && $("api-key").value) sessionStorage.setItem("medqa-api-key", $("api-key").value);
  const question = $("question").value.trim();
  const options = optionInputs().map((i) => i.value.trim()).filter((v) => v);
  if (!question || options.length < 2) { setStatus("Give a question and at least two options.", true); return; }
  $("submit").disabled = true;
  $("explanation").textContent = "";
  $("bars").textContent = "";
  $("letter").textContent = "";
  $("result").hidden = true;
  setStatus("Waiting for the model...");
  try {
    const r = await fetch("/v1/answer", {
      method: "POST", headers: headers(),
      body: JSON.stringify({ question, options, stream: true }),
    });
    if (r.status === 401) { needKey("The API key is missing or wrong."); return; }
    if (!r.ok) {
      const body = await r.json().catch(() => ({}));
      setStatus((body.error && body.error.message) || ("HTTP " + r.status), true);
      return;
    }
    await readEvents(r, (name, data) => {
      if (name === "scores") { showScores(data); setStatus("Explaining..."); }
      else if (name === "delta") $("explanation").textContent += data.text;
      else if (name === "done") setStatus("Done (" + (data.finish_reason || "scored") + ").");
      else if (name === "error") setStatus(data.error.message, true);
    });
  } catch (e) {
    setStatus("Request failed: " + e.message, true);
  } finally {
    $("submit").disabled = false;
  }
}

$("example").addEventListener("change", () => {
  const e = examples[Number($("example").value)];
  if (!e || $("example").value === "") return;
  $("question").value = e.question;
  setOptions(e.options);
});
$("add-option").addEventListener("click", () => addOption(""));
$("remove-option").addEventListener("click", () => {
  const items = $("options").querySelectorAll("li");
  if (items.length > 2) items[items.length - 1].remove();
});
$("submit").addEventListener("click", ask);
setOptions(["", "", "", ""]);
loadExamples().catch((e) => setStatus("Could not load examples: " + e.message, true));
loadModelInfo().catch((e) => setStatus("Could not load model info: " + e.message, true));
