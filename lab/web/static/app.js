// dnslab live page: one EventSource on /events (typed drill events, docs/web.md), or a
// finished results.json (dnslab view DIR). Plain JS, SVG drawn here; no build step, no network.
"use strict";

const BIN = 0.25; // seconds per bin of the share and failed-request charts (lab/web/model.py)
const SVGNS = "http://www.w3.org/2000/svg";
// what the browser test reads: the model, every applied seq after the snapshot's (base), when
// each was drawn, errors seen
const probe = (window.dnslab = { model: null, base: 0, seqs: [], shown: {}, errors: [], ended: false, snapshots: 0, drawn: false });
window.addEventListener("error", (e) => probe.errors.push(String(e.message)));

// S.model is the page's model (lab/web/model.py folds the events into it; the stream's
// snapshot is the model, each event's message carries its JSON Patch): drawn here, never
// computed here
const S = { meta: {}, model: { runs: [], cards: {} }, sel: -1, pending: [], timer: null, view: null };

function idleRun() {
  return { ttl: null, mode: "lab", finished: false, t0wall: null, end: 0, latest: 0, marks: [], log: [], health: {}, health_before: {}, answers: {}, share: {}, failed_bins: {}, failed_total: 0, requests: 0, stale: 0, windows: { n: 0, censored: 0, width: 1, counts: {} }, assume_up: false, dead: null, fault_at: null };
}

// 1, 2 or 5 times a power of ten, at least ``raw``: round tick steps
const niceStep = (raw) => {
  const p = Math.pow(10, Math.floor(Math.log10(raw || 1)));
  return [1, 2, 5, 10].map((m) => m * p).find((v) => v >= raw) || 10 * p;
};
const countStep = (n) => Math.max(1, niceStep(n / 3));
const niceCount = (n) => Math.max(2, countStep(n) * Math.ceil(n / countStep(n)));
const fmt = (x, nd = 2) => (x === null || x === undefined ? "—" : Number(x).toFixed(nd));

// -- the stream's changes: JSON Patch (RFC 6902) "add" and "remove", nothing else ---------------

function patch(doc, ops) {
  for (const op of ops) {
    const keys = op.path.split("/").slice(1).map((k) => k.replace(/~1/g, "/").replace(/~0/g, "~"));
    const last = keys.pop();
    let o = doc;
    for (const k of keys) o = o[k];
    if (op.op === "remove") {
      if (Array.isArray(o)) o.splice(Number(last), 1); else delete o[last];
    } else if (op.op === "add") {
      if (!Array.isArray(o)) o[last] = op.value;
      else if (last === "-") o.push(op.value);
      else o.splice(Number(last), 0, op.value);
    } else {
      throw new Error(`patch: unknown op ${op.op}`);
    }
  }
}

function cards(c) {
  for (const name of ["fault", "decision", "answer"]) {
    const card = c[name];
    if (!card) continue;
    const elt = document.getElementById(`mark-${name}`);
    elt.textContent = card.text;
    elt.classList.add("on");
    elt.dataset.seq = String(card.seq);
  }
}

function schedule() {
  probe.drawn = false;
  if (S.timer === null) S.timer = setTimeout(render, 100);
}

// -- drawing ----------------------------------------------------------------------------------

function el(svg, name, attrs, text) {
  const n = document.createElementNS(SVGNS, name);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  if (text !== undefined) n.textContent = text;
  svg.appendChild(n);
  return n;
}

function frame(svg, x0, x1, y0, y1, opts = {}) {
  svg.replaceChildren();
  const vb = svg.viewBox.baseVal;
  const W = vb.width, H = vb.height, L = opts.left || 40, R = 10, T = 8, B = 22;
  const sx = (x) => L + ((x - x0) / (x1 - x0 || 1)) * (W - L - R);
  const sy = (y) => H - B - ((y - y0) / (y1 - y0 || 1)) * (H - T - B);
  el(svg, "line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" });
  const step = opts.xstep || niceStep((x1 - x0) / 6);
  for (let x = Math.ceil(x0 / step) * step; x <= x1 + 1e-9; x += step) {
    el(svg, "text", { x: sx(x), y: H - 6, "text-anchor": "middle" }, String(+x.toPrecision(6)));
  }
  if (!opts.noY) {
    // percentages: 0, 50, 100 %; counts: round steps up to y1 (niceCount)
    const ys = opts.pct ? [y0, (y0 + y1) / 2, y1] : [];
    for (let y = y0, h = countStep(y1); !opts.pct && y <= y1 + 1e-9; y += h) ys.push(y);
    for (const y of ys) {
      el(svg, "line", { x1: L, y1: sy(y), x2: W - R, y2: sy(y), class: "axis" });
      el(svg, "text", { x: L - 4, y: sy(y) + 4, "text-anchor": "end" }, opts.pct ? `${Math.round(y * 100)}%` : Number.isInteger(y) ? String(y) : fmt(y, 1));
    }
  }
  if (opts.xlabel) el(svg, "text", { x: W - R, y: T + 4, "text-anchor": "end" }, opts.xlabel);
  return { sx, sy, W, H, L, R, T, B };
}

function marks(svg, f, r, x0, x1, shift = 0) {
  for (const m of r.marks) {
    const x = m.at - shift;
    if (x < x0 || x > x1) continue;
    el(svg, "line", { x1: f.sx(x), y1: f.T, x2: f.sx(x), y2: f.H - f.B, class: m.cls });
  }
}

function span(r) {
  const now = r.finished || r.t0wall === null ? r.latest : Math.max(r.latest, Date.now() / 1000 - r.t0wall);
  return [0, Math.max(r.end || 0, now, 1), now];
}

function drawHealth(r, regions) {
  const svg = document.getElementById("health");
  const [x0, x1, now] = span(r);
  const f = frame(svg, x0, x1, 0, 1, { noY: true, left: 70, xlabel: "s" });
  const names = [...new Set([...regions, ...Object.keys(r.health)])];
  const rowH = Math.min(30, (f.H - f.T - f.B) / Math.max(1, names.length));
  names.forEach((name, i) => {
    const y = f.T + i * rowH + 3;
    el(svg, "text", { x: f.L - 6, y: y + rowH / 2 + 1, "text-anchor": "end", class: "lbl" }, name);
    const ev = r.health[name] || [];
    const before = r.health_before[name];
    let state = before !== undefined ? (before ? "up" : "down") : r.assume_up ? "up" : "unknown", from = x0;
    const end = Math.min(x1, Math.max(now, x0));
    const seg = (a, b, s) => {
      if (b > a) el(svg, "rect", { x: f.sx(a), y, width: Math.max(0.5, f.sx(b) - f.sx(a)), height: rowH - 6, class: s });
    };
    for (const d of ev) {
      const at = Math.max(x0, Math.min(d.at, end));
      seg(from, at, state);
      state = d.up ? "up" : "down";
      from = at;
    }
    seg(from, end, state);
  });
  marks(svg, f, r, x0, x1);
  if (!r.finished) el(svg, "line", { x1: f.sx(now), y1: f.T, x2: f.sx(now), y2: f.H - f.B, class: "m-now" });
}

function drawAnswers(r) {
  const tb = document.querySelector("#answers tbody");
  tb.replaceChildren();
  for (const loc of Object.keys(r.answers).sort()) {
    const a = r.answers[loc];
    const tr = document.createElement("tr");
    tr.dataset.location = loc;
    tr.dataset.regions = a.regions.join(",");
    const dead = r.dead !== null && a.regions.includes(r.dead) && r.fault_at !== null;
    const cells = [loc, a.addrs.join(" ") || (a.probe ? "" : "(from clients)"), [...new Set(a.regions)].join(", "), `${fmt(a.at)} s`];
    cells.forEach((c, i) => {
      const td = document.createElement("td");
      td.textContent = c;
      if (i === 2 && dead) td.className = "dead";
      tr.appendChild(td);
    });
    tb.appendChild(tr);
  }
}

// the model's bins (index -> value) as points of a series, in time order
function binSeries(bins) {
  return Object.keys(bins).map(Number).sort((a, b) => a - b).map((k) => [k * BIN, bins[k]]);
}

function drawSeries(id, r, pts, opts) {
  const svg = document.getElementById(id);
  const [x0d, x1d] = span(r);
  const x0 = opts.x0 !== undefined ? opts.x0 : x0d, x1 = opts.x1 !== undefined ? opts.x1 : x1d;
  const ymax = opts.ymax || niceCount(Math.max(...pts.map((p) => p[1]), 0));
  const f = frame(svg, x0, x1, 0, ymax, { pct: opts.pct, xlabel: opts.xlabel || "s" });
  if (opts.bars) {
    const w = Math.max(1, f.sx(x0 + BIN) - f.sx(x0) - 1);
    for (const [x, y] of pts) if (y > 0) el(svg, "rect", { x: f.sx(x), y: f.sy(y), width: w, height: f.sy(0) - f.sy(y), class: "bar" });
  } else if (pts.length) {
    el(svg, "path", { d: pts.map((p, i) => `${i ? "L" : "M"}${f.sx(p[0]).toFixed(1)},${f.sy(p[1]).toFixed(1)}`).join(""), class: "series" });
  }
  marks(svg, f, r, x0, x1, opts.shift || 0);
}

function drawWindows(r) {
  const svg = document.getElementById("windows");
  const final = r.finished;
  const w = r.windows; // the model's histogram: cells of w.width seconds, index -> clients
  document.getElementById("windows-note").textContent = final
    ? `${w.n} clients, measured (${w.censored} still stale at the end)`
    : `${w.n} closed so far, ${r.stale} clients still stale`;
  const cells = Object.keys(w.counts).map(Number).filter((k) => w.counts[k] > 0);
  const top = Math.max(1, w.width * (Math.max(-1, ...cells) + 1));
  const f = frame(svg, 0, top, 0, niceCount(Math.max(0, ...cells.map((k) => w.counts[k]))), { xlabel: "s after the fault" });
  for (const k of cells) {
    const c = w.counts[k];
    el(svg, "rect", { x: f.sx(k * w.width) + 1, y: f.sy(c), width: Math.max(1, f.sx(w.width) - f.sx(0) - 2), height: f.sy(0) - f.sy(c), class: final ? "hbar" : "hbar live" });
  }
}

function drawLog(r) {
  const ol = document.getElementById("log");
  ol.replaceChildren();
  for (const [cls, at, text] of r.log) {
    const li = document.createElement("li");
    li.className = cls;
    li.textContent = `${fmt(at)} s  ${text}`;
    ol.appendChild(li);
  }
}

function drawRunNav() {
  const nav = document.getElementById("runs");
  nav.replaceChildren();
  const runs = S.model.runs;
  if (runs.length < 2) return;
  runs.forEach((r, i) => {
    const b = document.createElement("button");
    b.textContent = r.ttl === null ? "lab" : `TTL ${r.ttl}s`;
    if (i === selected()) b.className = "on";
    b.onclick = () => { S.sel = i === runs.length - 1 ? -1 : i; render(); };
    nav.appendChild(b);
  });
}

const selected = () => (S.sel < 0 ? S.model.runs.length - 1 : S.sel);

function render() {
  S.timer = null;
  if (S.view && S.view.sweep) return;
  const idle = !S.model.runs.length; // nothing published yet (a drill's lab is still starting)
  const r = idle ? idleRun() : S.model.runs[selected()];
  cards(S.model.cards);
  const regions = S.meta.regions || [];
  document.getElementById("title").textContent = S.view ? "dnslab — drill results" : S.meta.title || "dnslab — live drill";
  const [, , now] = span(r);
  document.getElementById("runinfo").textContent = idle
    ? (S.meta.source === "drill" ? "waiting for the drill's first run (its lab is starting)" : "waiting for the lab's first events")
    : r.ttl === null
    ? `lab: health and answers (no drill running), t = ${fmt(now, 1)} s`
    : `${r.scenario} · TTL ${r.ttl} s · ${r.clients} clients · t = ${fmt(Math.min(now, r.end || now), 1)} / ${fmt(r.end, 0)} s${r.failed ? " · FAILED" : ""}${r.finished ? " · finished" : ""}`;
  drawRunNav();
  drawHealth(r, regions);
  drawAnswers(r);
  // view mode: the series results.json carries
  drawSeries("share", r, r.share_series || binSeries(r.share), { pct: true, ymax: 1 });
  document.getElementById("failed-total").textContent = `${r.failed_total} after the fault · ${r.requests} requests`;
  drawSeries("failed", r, r.failed_series || binSeries(r.failed_bins), { bars: true });
  if (r.failed_series) { // view mode: results.json keeps the total only
    const svg = document.getElementById("failed");
    el(svg, "text", { x: 300, y: 80, "text-anchor": "middle", class: "lbl" }, "results.json keeps the total only; observations.csv has every request");
  }
  drawWindows(r);
  if (r.ttl === null && !idle) { // dnslab up without a drill: no clients run here
    for (const id of ["share", "failed", "windows"]) {
      el(document.getElementById(id), "text", { x: 300, y: 80, "text-anchor": "middle", class: "lbl" }, "no clients run under dnslab up; a drill (dnslab drill --attach) serves its own page");
    }
  }
  drawLog(r);
  const t = Date.now();
  for (const seq of S.pending) probe.shown[seq] = t;
  S.pending = [];
  probe.drawn = true;
  if (!r.finished && !S.view && r.t0wall !== null) schedule(); // keep the clock moving
}

// -- the stream -------------------------------------------------------------------------------

function connect() {
  const conn = document.getElementById("conn");
  const es = new EventSource("/events");
  es.addEventListener("open", () => { conn.textContent = "live"; conn.className = "pill live"; });
  es.addEventListener("error", () => {
    if (probe.ended) return;
    conn.textContent = "reconnecting…";
    conn.className = "pill reconnecting";
  });
  es.addEventListener("snapshot", (m) => {
    const doc = JSON.parse(m.data);
    probe.snapshots += 1;
    S.meta = doc.meta || {};
    S.model = probe.model = doc.model;
    S.sel = -1;
    probe.base = Number(m.lastEventId.split("-").pop());
    probe.seqs = [];
    schedule();
  });
  es.addEventListener("message", (m) => {
    const e = JSON.parse(m.data);
    patch(S.model, e.patch);
    if (e.type === "RunStarted") S.sel = -1; // follow the new run
    probe.seqs.push(e.seq);
    S.pending.push(e.seq);
    schedule();
  });
  es.addEventListener("end", () => {
    probe.ended = true;
    es.close();
    conn.textContent = "finished";
    conn.className = "pill finished";
    document.getElementById("foot").textContent = "The drill ended and its stream closed; `dnslab view OUT` shows its results.json again.";
    schedule();
  });
}

// -- results.json (dnslab view) ---------------------------------------------------------------

function viewDrill(model) {
  S.model = probe.model = model; // lab/web/model.py view_model: the same document as live
  S.sel = 0;
  document.querySelector("#answers thead").innerHTML = "<tr><th>location</th><th></th><th>after the fault</th><th></th></tr>";
  render();
}

function viewSweep(doc) {
  document.getElementById("live").hidden = true;
  document.getElementById("marks").hidden = true;
  document.getElementById("sweep").hidden = false;
  document.getElementById("title").textContent = "dnslab — sweep results";
  document.getElementById("runinfo").textContent = `${doc.cells.length} cells × ${doc.replicates} replicates · varying ${doc.varying.join(", ") || "nothing"} · ${doc.command}`;
  const pts = doc.cells
    .map((c) => ({ c, q: c.metrics.authoritative_qps, w: c.metrics.window_mean_s }))
    .filter((p) => p.q.mean !== null && p.w.mean !== null && p.q.mean > 0);
  const svg = document.getElementById("tradeoff");
  if (pts.length) {
    const lx = pts.map((p) => Math.log10(p.q.mean));
    const pad = Math.max(0.1, (Math.max(...lx) - Math.min(...lx)) * 0.1);
    const x0 = Math.min(...lx) - pad, x1 = Math.max(...lx) + pad;
    const ymax = Math.max(...pts.map((p) => p.w.mean + (p.w.ci95 || 0))) * 1.1 || 1;
    const f = frame(svg, x0, x1, 0, ymax, { left: 48 });
    // the x axis is log10(q/s): relabel the ticks as q/s
    svg.querySelectorAll("text").forEach((t) => {
      if (t.getAttribute("text-anchor") === "middle") t.textContent = String(+Math.pow(10, +t.textContent).toPrecision(2));
    });
    el(svg, "text", { x: f.W - f.R, y: f.H - 24, "text-anchor": "end" }, "authoritative queries/s (log)");
    el(svg, "text", { x: f.L + 4, y: f.T + 10 }, "mean stale-routing window (s), ±95% CI");
    const xy = pts.map((p, i) => [f.sx(lx[i]), f.sy(p.w.mean)]);
    // one curve per setting of the other axes, TTL along it (as tradeoff.png): a line never
    // joins cells that differ in anything but the TTL
    const groups = new Map();
    pts.forEach((p, i) => {
      const rest = Object.entries(p.c.params || {}).filter(([k]) => k !== "ttl");
      const key = JSON.stringify(rest);
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(i);
    });
    const colors = ["#2a66d9", "#e07b00", "#2c9c4a", "#c2393c", "#7d4cc2", "#7a5230"];
    [...groups.values()].forEach((idx, g) => {
      idx.sort((a, b) => lx[a] - lx[b]);
      const d = idx.map((i, n) => `${n ? "L" : "M"}${xy[i][0].toFixed(1)},${xy[i][1].toFixed(1)}`).join("");
      el(svg, "path", { d, class: "series", style: `stroke:${colors[g % colors.length]}` });
    });
    pts.forEach((p, i) => {
      const [x, y] = xy[i], e = p.w.ci95 || 0;
      if (e) el(svg, "line", { x1: x, y1: f.sy(p.w.mean - e), x2: x, y2: f.sy(p.w.mean + e), class: "err" });
      el(svg, "circle", { cx: x, cy: y, r: 4, class: "pt" });
      const right = x > f.W - f.R - 160; // near the right edge: label on the left of the point
      el(svg, "text", { x: right ? x - 6 : x + 6, y: y - 6, class: "lbl", "text-anchor": right ? "end" : "start" }, p.c.label || `cell ${p.c.index}`);
    });
  }
  const keys = ["window_mean_s", "window_p50_s", "window_p90_s", "window_max_s", "detection_s", "failed_requests", "authoritative_qps", "queries_per_client_hour"];
  document.querySelector("#cells thead").innerHTML = "<tr><th>cell</th>" + keys.map((k) => `<th>${k}</th>`).join("") + "</tr>";
  const tb = document.querySelector("#cells tbody");
  for (const c of doc.cells) {
    const tr = document.createElement("tr");
    const td = (t) => { const d = document.createElement("td"); d.textContent = t; tr.appendChild(d); };
    td(c.label || String(c.index));
    for (const k of keys) {
      const m = c.metrics[k] || { mean: null };
      td(m.mean === null ? "-" : fmt(m.mean) + (m.ci95 ? ` ± ${fmt(m.ci95)}` : ""));
    }
    tb.appendChild(tr);
  }
  document.getElementById("foot").textContent = doc.notes.join(" ");
}

async function view() {
  const conn = document.getElementById("conn");
  conn.textContent = "results";
  conn.className = "pill view";
  const doc = await (await fetch("/results.json")).json();
  S.view = { sweep: doc.schema === "dnslab.sweep.results/1" };
  if (S.view.sweep) viewSweep(doc);
  else viewDrill(await (await fetch("/model.json")).json());
  probe.viewed = doc.schema;
}

async function main() {
  const meta = await (await fetch("/meta.json")).json();
  S.meta = meta;
  if (meta.mode === "view") await view();
  else connect();
}

main().catch((e) => { probe.errors.push(String(e)); console.error(e); });
