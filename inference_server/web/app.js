// The detector's web page: plain JS, no dependencies, works offline.
// URLs are relative so the page also works behind a path prefix (kubectl proxy, an ingress).
"use strict";

const HEALTH_EVERY_MS = 5000;
const SENDABLE = new Set(["image/png", "image/jpeg"]);

const $ = (id) => document.getElementById(id);
const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;
const modelName = meta("model-name");
const DEFAULT_THRESHOLD = 0.5;

const state = {
  response: null,   // the last :detect answer
  objectUrl: null,  // the shown image, revoked when replaced
  active: -1,       // index (into response.detections) of the highlighted row, or -1
  seq: 0,           // ignores answers to superseded uploads
  elapsedMs: 0,     // round trip of the last :detect call
};

// ---------- readiness ----------

async function checkHealth() {
  const el = $("health");
  let text, s;
  try {
    const r = await fetch("v2/health/ready", { cache: "no-store" });
    [s, text] = r.ok ? ["ready", "Ready"] : ["waiting", `Not ready yet (HTTP ${r.status})`];
  } catch {
    [s, text] = ["down", "Server unreachable"];
  }
  if (el.dataset.state !== s) {
    el.dataset.state = s;
    $("health-text").textContent = text;
  }
}

// ---------- upload ----------

// The server takes PNG or JPEG; anything else the browser can decode is re-encoded as PNG.
async function toSendable(file) {
  if (SENDABLE.has(file.type)) return file;
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw new Error(`This browser cannot read "${file.name}" as an image.`);
  }
  const canvas = document.createElement("canvas");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  canvas.getContext("2d").drawImage(bitmap, 0, 0);
  bitmap.close();
  return new Promise((resolve, reject) => canvas.toBlob(
    (blob) => (blob ? resolve(blob) : reject(new Error(`Could not convert "${file.name}" to PNG.`))), "image/png",
  ));
}

// Server errors come as {"error": "..."}; fall back to the status line when they do not.
async function errorMessage(r) {
  const raw = await r.text();
  try {
    const body = JSON.parse(raw);
    if (body && typeof body.error === "string") return `${body.error} (HTTP ${r.status})`;
  } catch { /* not JSON */ }
  return `The server answered HTTP ${r.status} ${r.statusText}${raw ? `: ${raw.slice(0, 200)}` : ""}`;
}

async function detect(file) {
  const seq = ++state.seq;
  showError("");
  setSummary(`Detecting objects in ${file.name || "the image"}…`);
  document.body.classList.add("busy");
  try {
    const blob = await toSendable(file);
    const started = performance.now();
    // threshold=0: the server returns every detection (up to its --max-detections) and the
    // slider filters here, without another round trip.
    let r;
    try {
      r = await fetch(`v1/models/${encodeURIComponent(modelName)}:detect?threshold=0`, {
        method: "POST",
        headers: { "Content-Type": blob.type },
        body: blob,
      });
    } catch {
      throw new Error("Could not reach the server.");
    }
    if (seq !== state.seq) return;
    if (!r.ok) throw new Error(await errorMessage(r));
    const answer = await r.json();
    if (seq !== state.seq) return;
    const ms = performance.now() - started;
    await showImage(blob);
    state.response = answer;
    state.active = -1;
    state.elapsedMs = ms;
    render();
  } catch (err) {
    if (seq !== state.seq) return;
    // The old picture and table would read as this file's result: clear them.
    state.response = null;
    $("result").hidden = true;
    setSummary("");
    showError(err.message);
  } finally {
    if (seq === state.seq) document.body.classList.remove("busy");
  }
}

function showImage(blob) {
  if (state.objectUrl) URL.revokeObjectURL(state.objectUrl);
  state.objectUrl = URL.createObjectURL(blob);
  const img = $("image");
  return new Promise((resolve) => {
    img.onload = img.onerror = () => resolve();
    img.src = state.objectUrl;
    $("result").hidden = false;
  });
}

// ---------- rendering ----------

function threshold() {
  return Number($("threshold").value);
}

function visible() {
  if (!state.response) return [];
  const min = threshold();
  return state.response.detections
    .map((d, i) => ({ ...d, index: i }))
    .filter((d) => d.score >= min);
}

// A stable colour per class; all dark enough for white label text (WCAG AA).
const PALETTE = ["#0550ae", "#cf222e", "#1a7f37", "#8250df", "#bc4c00",
  "#bf3989", "#0a6e75", "#57606a", "#7d4e00", "#1f6feb"];
function colour(classId) {
  return PALETTE[Math.abs(classId) % PALETTE.length];
}

function render() {
  $("threshold-value").textContent = threshold().toFixed(2);
  if (!state.response) return;
  const shown = visible();
  const total = state.response.detections.length;
  const { width, height } = state.response.image;
  const hidden = total - shown.length;
  setSummary(
    `${shown.length} ${shown.length === 1 ? "object" : "objects"} shown` +
    (hidden ? ` (${hidden} below ${threshold().toFixed(2)})` : "") +
    ` · ${width}×${height} px · ${Math.round(state.elapsedMs)} ms`,
  );
  $("stage-caption").textContent = shown.length
    ? `Image with ${shown.length} boxes: ` + shown.map((d) => `${d.label} ${pct(d.score)}`).join(", ")
    : "Image with no detections above the minimum score.";
  renderTable(shown);
  drawBoxes(shown);
}

function pct(score) {
  return `${(score * 100).toFixed(1)}%`;
}

function renderTable(shown) {
  const body = $("detections").tBodies[0];
  const rows = shown.map((d, n) => {
    const tr = document.createElement("tr");
    tr.dataset.index = String(d.index);
    tr.tabIndex = 0;
    if (d.index === state.active) tr.classList.add("active");
    const b = d.box;
    const cells = [n + 1, d.label, d.score.toFixed(3), b.xmin, b.ymin, b.xmax, b.ymax];
    cells.forEach((value, c) => {
      const td = document.createElement("td");
      if (c === 1) {
        const swatch = document.createElement("span");
        swatch.className = "swatch";
        swatch.style.background = colour(d.class_id);
        swatch.setAttribute("aria-hidden", "true");
        td.append(swatch, String(value));
        td.title = `class id ${d.class_id}`;
      } else {
        td.textContent = typeof value === "number" && c > 2 ? value.toFixed(1) : String(value);
      }
      if (c >= 2) td.className = "num";
      tr.append(td);
    });
    return tr;
  });
  if (!rows.length) {
    const tr = document.createElement("tr");
    tr.className = "empty";
    const td = document.createElement("td");
    td.colSpan = 7;
    td.textContent = "No detections at or above this score.";
    tr.append(td);
    rows.push(tr);
  }
  body.replaceChildren(...rows);
}

function drawBoxes(shown) {
  const img = $("image");
  const canvas = $("overlay");
  const dpr = window.devicePixelRatio || 1;
  const w = img.clientWidth;
  const h = img.clientHeight;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  canvas.style.width = `${w}px`;
  canvas.style.height = `${h}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  if (!state.response || !w) return;
  // Boxes are in the pixels of the image the server decoded; scale them to the displayed size.
  const sx = w / state.response.image.width;
  const sy = h / state.response.image.height;
  ctx.font = "600 12px system-ui, sans-serif";
  ctx.textBaseline = "top";
  // Draw the highlighted box last so it sits on top.
  const ordered = [...shown].sort((a, b) => (a.index === state.active) - (b.index === state.active));
  const place = (d) => {
    const x = d.box.xmin * sx;
    const y = d.box.ymin * sy;
    return { x, y, w: (d.box.xmax - d.box.xmin) * sx, h: (d.box.ymax - d.box.ymin) * sy };
  };
  const alpha = (d) => (state.active !== -1 && d.index !== state.active ? 0.3 : 1);
  for (const d of ordered) {
    const r = place(d);
    ctx.globalAlpha = alpha(d);
    ctx.lineWidth = d.index === state.active ? 3 : 2;
    ctx.strokeStyle = colour(d.class_id);
    ctx.strokeRect(r.x, r.y, r.w, r.h);
  }
  // Labels after all boxes, so no box line crosses a label. Best first picks a free spot (above,
  // inside the top, below the box); then drawn worst first so the best sit on top.
  const LABEL_H = 18;
  const taken = [];
  const overlaps = (a) => taken.some((b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h);
  const labels = [...shown].sort((a, b) => (b.index === state.active) - (a.index === state.active) || b.score - a.score)
    .map((d) => {
      const r = place(d);
      const text = `${d.label} ${pct(d.score)}`;
      const lw = ctx.measureText(text).width + 8;
      const x = Math.min(Math.max(r.x - 1, 0), Math.max(w - lw, 0));
      const spots = [r.y - LABEL_H, r.y, r.y + r.h - LABEL_H, r.y + r.h]
        .filter((y) => y >= 0 && y + LABEL_H <= h)
        .map((y) => ({ x, y, w: lw, h: LABEL_H }));
      const spot = spots.find((s) => !overlaps(s)) || spots[0] || { x, y: Math.max(r.y, 0), w: lw, h: LABEL_H };
      taken.push(spot);
      return { d, text, spot };
    });
  for (const { d, text, spot } of labels.reverse()) {
    ctx.globalAlpha = alpha(d);
    ctx.fillStyle = colour(d.class_id);
    ctx.fillRect(spot.x, spot.y, spot.w, spot.h);
    ctx.fillStyle = "#fff";
    ctx.fillText(text, spot.x + 4, spot.y + 3);
  }
  ctx.globalAlpha = 1;
}

function setSummary(text) {
  $("summary").textContent = text;
}

function showError(text) {
  const el = $("error");
  el.textContent = text;
  el.hidden = !text;
}

function highlight(index) {
  if (state.active === index) return;
  state.active = index;
  for (const tr of $("detections").tBodies[0].rows) {
    tr.classList.toggle("active", tr.dataset.index === String(index));
  }
  drawBoxes(visible());
}

// ---------- wiring ----------

function pick(files) {
  const file = files && files[0];
  if (!file) return;
  if (file.type && !file.type.startsWith("image/")) {
    showError(`"${file.name}" is not an image (${file.type}).`);
    return;
  }
  detect(file);
}

function initialThreshold() {
  const value = Number.parseFloat(meta("score-threshold")); // NaN while not substituted
  return value >= 0 && value <= 1 ? value : DEFAULT_THRESHOLD;
}

function wire() {
  $("threshold").value = String(initialThreshold());
  $("file").addEventListener("change", (e) => pick(e.target.files));
  $("threshold").addEventListener("input", render);

  const drop = $("drop");
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const type of ["dragleave", "drop"]) {
    drop.addEventListener(type, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (e) => { e.preventDefault(); pick(e.dataTransfer.files); });
  // A drop that misses the target must not navigate away from the page.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());

  const body = $("detections").tBodies[0];
  const rowIndex = (e) => {
    const tr = e.target.closest("tr[data-index]");
    return tr ? Number(tr.dataset.index) : -1;
  };
  body.addEventListener("mouseover", (e) => highlight(rowIndex(e)));
  body.addEventListener("focusin", (e) => highlight(rowIndex(e)));
  body.addEventListener("mouseleave", () => highlight(-1));
  body.addEventListener("focusout", () => highlight(-1));

  new ResizeObserver(() => drawBoxes(visible())).observe($("image"));

  render();
  checkHealth();
  setInterval(checkHealth, HEALTH_EVERY_MS);
}

wire();
