// dnslab live page: one EventSource on /events (typed drill events, docs/web.md), or a
// finished results.json (dnslab view DIR). Plain JS, SVG drawn here; no build step, no network.
"use strict";

const BIN = 0.25; // seconds per bin of the share and failed-request charts
const SVGNS = "http://www.w3.org/2000/svg";
// what the browser test reads: every applied seq, when each was drawn, errors seen
const probe = (window.dnslab = { seqs: [], shown: {}, errors: [], ended: false, snapshots: 0 });
window.addEventListener("error", (e) => probe.errors.push(String(e.message)));

const S = { meta: {}, runs: [], sel: -1, pending: [], timer: null, view: null };

function newRun(ttl, info) {
  return {
    ttl, scenario: info.scenario || "", clients: info.clients || 0, end: info.end || 0,
    mode: info.mode || "live", t0wall: info.t0wall || null, finished: false, failed: false,
    faultAt: null, dead: null, recoveredAt: null, marks: [], log: [],
    health: {}, answers: {}, bins: new Map(), failedTotal: 0, requests: 0,
    stale: new Set(), windows: new Map(), delays: {}, latest: 0,
    assumeUp: info.assumeUp !== false,
  };
}

function current() {
  if (!S.runs.length) {
    // dnslab up without a drill: health and answers only, timed from the lab's start
    S.runs.push(newRun(null, { mode: "lab", assumeUp: false }));
  }
  return S.runs[S.runs.length - 1];
}

// 1, 2 or 5 times a power of ten, at least ``raw``: round tick steps
const niceStep = (raw) => {
  const p = Math.pow(10, Math.floor(Math.log10(raw || 1)));
  return [1, 2, 5, 10].map((m) => m * p).find((v) => v >= raw) || 10 * p;
};
const countStep = (n) => Math.max(1, niceStep(n / 3));
const niceCount = (n) => Math.max(2, countStep(n) * Math.ceil(n / countStep(n)));
const fmt = (x, nd = 2) => (x === null || x === undefined ? "—" : Number(x).toFixed(nd));

// -- applying events --------------------------------------------------------------------------

function apply(e) {
  probe.seqs.push(e.seq);
  S.pending.push(e.seq);
  if (e.type === "RunStarted") {
    const r = newRun(e.ttl, { scenario: e.scenario, clients: e.clients, end: e.end, mode: e.mode, t0wall: e.wall - e.at });
    S.runs.push(r);
    r.log.push(["", e.at, `run TTL ${e.ttl}s started: ${e.clients} clients, ${fmt(e.end, 0)} s`]);
    S.sel = -1;
    return;
  }
  const r = current();
  if (e.at !== undefined && e.at > r.latest) r.latest = e.at;
  if (r.t0wall === null && e.at !== undefined) r.t0wall = e.wall - e.at;
  switch (e.type) {
    case "FaultInjected":
      if (r.faultAt === null) { r.faultAt = e.at; r.dead = e.region; }
      r.marks.push({ at: e.at, cls: "m-fault", label: `${e.action} ${e.region}` });
      r.log.push(["fault", e.at, `fault: ${e.action} ${e.region}${e.fault && e.fault !== "kill" ? " (" + e.fault + ")" : ""}`]);
      mark("mark-fault", `fault: ${e.action} ${e.region} at ${fmt(e.at)} s`, e.seq);
      break;
    case "FaultCleared":
      if (e.region === r.dead && r.recoveredAt === null) r.recoveredAt = e.at;
      r.marks.push({ at: e.at, cls: "m-fault", label: `${e.action} ${e.region}` });
      r.log.push(["fault", e.at, `${e.action} ${e.region}`]);
      mark("mark-fault", `${e.action} ${e.region} at ${fmt(e.at)} s`, e.seq);
      break;
    case "InjectionFailed":
      r.failed = true;
      r.log.push(["fault", e.at, `INJECTION FAILED: ${e.action} ${e.region}: ${e.detail}`]);
      mark("mark-fault", `INJECTION FAILED: ${e.action} ${e.region}`, e.seq);
      break;
    case "CheckerDecision": {
      const h = (r.health[e.region] = r.health[e.region] || []);
      h.push({ at: e.at, up: e.up });
      const word = e.up ? "UP" : "DOWN";
      if (!(e.reason === "snapshot")) {
        r.marks.push({ at: e.at, cls: "m-decision", label: `${e.region} ${word}` });
      }
      r.log.push(["decision", e.at, `checker ${e.vantage}: ${e.region} ${word}${e.reason ? " (" + e.reason + ")" : ""}`]);
      mark("mark-decision", `checker: ${e.region} ${word} at ${fmt(e.at)} s`, e.seq);
      break;
    }
    case "AnswerChanged": {
      r.answers[e.location] = { addrs: e.addrs, regions: e.regions, at: e.at, probe: true };
      const to = [...new Set(e.regions)].join(", ") || "nothing";
      if (e.previous.length) {
        r.marks.push({ at: e.at, cls: "m-answer", label: `${e.location} → ${to}` });
        r.log.push(["answer", e.at, `answer for ${e.location}: ${e.previous.join(" ")} → ${e.addrs.join(" ")} (${to})`]);
        mark("mark-answer", `answer: ${e.location} → ${to} at ${fmt(e.at)} s`, e.seq);
      }
      break;
    }
    case "ClientResolved": {
      const a = r.answers[e.location];
      if (e.ok && e.upstream === "authoritative" && e.region && (!a || (!a.probe && a.regions[0] !== e.region))) {
        r.answers[e.location] = { addrs: [], regions: [e.region], at: e.at, probe: false };
      }
      break;
    }
    case "ClientRequest": {
      const k = Math.floor(e.at / BIN);
      let b = r.bins.get(k);
      if (!b) r.bins.set(k, (b = { clients: new Set(), dead: new Set(), failed: 0 }));
      b.clients.add(e.client);
      r.requests += 1;
      if (e.dead) { b.dead.add(e.client); r.stale.add(e.client); } else r.stale.delete(e.client);
      if (!e.ok) { b.failed += 1; if (r.faultAt !== null && e.at >= r.faultAt) r.failedTotal += 1; }
      break;
    }
    case "WindowClosed":
      // published by the drill as each window closes; a client's later one replaces it
      r.windows.set(e.client, { w: e.window_s, censored: e.censored });
      break;
    case "DelayMeasured":
      r.delays[e.what] = e.seconds;
      r.log.push(["", r.latest, `${e.what} delay ${fmt(e.seconds)} s (${e.region})`]);
      break;
    case "RunFinished":
      r.finished = true;
      r.failed = r.failed || e.failed;
      r.log.push(["", e.at, `run TTL ${e.ttl}s finished${e.failed ? " — FAILED: no real outage" : ""}`]);
      break;
  }
}

function mark(id, text, seq) {
  const el = document.getElementById(id);
  el.textContent = text;
  el.classList.add("on");
  el.dataset.seq = String(seq);
}

function schedule() {
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
    let state = r.assumeUp ? "up" : "unknown", from = x0;
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
    const dead = r.dead !== null && a.regions.includes(r.dead) && r.faultAt !== null;
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

function binSeries(r, key) {
  const ks = [...r.bins.keys()].sort((a, b) => a - b);
  return ks.map((k) => {
    const b = r.bins.get(k);
    return [k * BIN, key === "share" ? (b.clients.size ? b.dead.size / b.clients.size : 0) : b.failed];
  });
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
  const ws = [...r.windows.values()];
  document.getElementById("windows-note").textContent = final
    ? `${ws.length} clients, measured (${ws.filter((x) => x.censored).length} still stale at the end)`
    : `${ws.length} closed so far, ${r.stale.size} clients still stale`;
  const top = Math.max(1, ...ws.map((x) => x.w));
  const nb = 24, width = top / nb;
  const counts = new Array(nb).fill(0);
  for (const x of ws) counts[Math.min(nb - 1, Math.floor(Math.max(0, x.w) / width))] += 1;
  const f = frame(svg, 0, top, 0, niceCount(Math.max(...counts)), { xlabel: "s after the fault" });
  counts.forEach((c, i) => {
    if (c) el(svg, "rect", { x: f.sx(i * width) + 1, y: f.sy(c), width: Math.max(1, f.sx(width) - f.sx(0) - 2), height: f.sy(0) - f.sy(c), class: final ? "hbar" : "hbar live" });
  });
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
  if (S.runs.length < 2) return;
  S.runs.forEach((r, i) => {
    const b = document.createElement("button");
    b.textContent = r.ttl === null ? "lab" : `TTL ${r.ttl}s`;
    if (i === selected()) b.className = "on";
    b.onclick = () => { S.sel = i === S.runs.length - 1 ? -1 : i; render(); };
    nav.appendChild(b);
  });
}

const selected = () => (S.sel < 0 ? S.runs.length - 1 : S.sel);

function render() {
  S.timer = null;
  if (S.view && S.view.sweep) return;
  const idle = !S.runs.length; // nothing published yet (a drill's lab is still starting)
  const r = idle ? newRun(null, { mode: "lab", assumeUp: false }) : S.runs[selected()];
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
  if (r.shareSeries) { // view mode: the series results.json carries
    drawSeries("share", r, r.shareSeries, { pct: true, ymax: 1 });
  } else {
    drawSeries("share", r, binSeries(r, "share"), { pct: true, ymax: 1 });
  }
  document.getElementById("failed-total").textContent = `${r.failedTotal} after the fault · ${r.requests} requests`;
  drawSeries("failed", r, r.failedSeries || binSeries(r, "failed"), { bars: true });
  if (r.failedSeries) { // view mode: results.json keeps the total only
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
    S.runs = [];
    S.sel = -1;
    probe.seqs = [];
    for (const e of doc.events) apply(e);
    schedule();
  });
  es.addEventListener("message", (m) => {
    apply(JSON.parse(m.data));
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

function viewDrill(doc) {
  S.runs = doc.runs.map((run) => {
    const r = newRun(run.ttl, { scenario: doc.scenario && doc.scenario.name, clients: run.clients, end: run.duration_s, mode: run.mode });
    r.finished = true;
    r.failed = run.failed;
    r.latest = run.duration_s;
    const fa = run.fault.at_s;
    r.faultAt = fa;
    r.dead = run.dead_region;
    r.requests = run.requests;
    r.failedTotal = run.failed_requests;
    if (fa !== null) {
      r.marks.push({ at: fa, cls: "m-fault", label: "fault" });
      if (run.detection_s !== null) {
        const d = fa + run.detection_s;
        r.health[run.dead_region] = [{ at: d, up: false }];
        r.marks.push({ at: d, cls: "m-decision", label: "down" });
        if (run.propagation_s !== null) r.marks.push({ at: d + run.propagation_s, cls: "m-answer", label: "answer" });
      }
      if (run.fault.recovered_at_s !== null) r.marks.push({ at: run.fault.recovered_at_s, cls: "m-fault", label: "recovered" });
    }
    r.shareSeries = (run.dead_share || []).map(([t, s]) => [t + (fa || 0), s]);
    r.failedSeries = [];
    for (const [loc, v] of Object.entries(run.by_location || {})) {
      r.answers[loc] = { addrs: [], regions: [`${v.clients_affected}/${v.clients} clients stale, p90 ${fmt(v.stale_window_s.p90)} s`], at: fa || 0, probe: true };
    }
    r.windows = new Map((run.client_windows || []).map((c) => [c.client, { w: c.window_s, censored: c.censored }]));
    r.log = (run.events || []).map(([t, text]) => [/fault|kill|FAILED/.test(text) ? "fault" : /checker/.test(text) ? "decision" : /authoritative/.test(text) ? "answer" : "", t, text]);
    return r;
  });
  S.sel = 0;
  const r0 = S.runs[0];
  if (r0) {
    mark("mark-fault", `fault: ${doc.runs[0].fault.action} ${r0.dead} at ${fmt(r0.faultAt)} s`, 0);
    mark("mark-decision", `detection ${fmt(doc.runs[0].detection_s)} s`, 0);
    mark("mark-answer", `propagation ${fmt(doc.runs[0].propagation_s)} s`, 0);
  }
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
  else viewDrill(doc);
  probe.viewed = doc.schema;
}

async function main() {
  const meta = await (await fetch("/meta.json")).json();
  S.meta = meta;
  if (meta.mode === "view") await view();
  else connect();
}

main().catch((e) => { probe.errors.push(String(e)); console.error(e); });
