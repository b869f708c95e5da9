// The calculator's page: reads the form, asks the server's API (the CLI's JSON documents)
// and shows what it answers. No bound is computed here; only times are formatted.
"use strict";

const form = document.getElementById("inputs");
const FIELDS = ["N", "file-size", "server-up", "peer-up", "peer-down", "piece-size"];
let chart = null;
let fig223 = false; // Fig. 2.23's axes (N from 1 to 35, hours, linear) until an input is typed
let generation = 0; // answers to older inputs are dropped

function values() {
  const v = {};
  for (const name of FIELDS) v[name] = form.elements[name].value.trim();
  return v;
}

function query(params) {
  return new URLSearchParams(params).toString();
}

// A time as the CLI prints it: seconds, minutes or hours.
function duration(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "-";
  if (seconds < 120) return `${seconds.toPrecision(4)} s`;
  if (seconds < 7200) return `${(seconds / 60).toPrecision(4)} min`;
  return `${(seconds / 3600).toPrecision(4)} h`;
}

async function api(path, params) {
  const response = await fetch(`/api/${path}?${query(params)}`);
  const body = await response.json();
  if (!response.ok) {
    const error = new Error(body.error || `HTTP ${response.status}`);
    error.field = body.field;
    throw error;
  }
  return body;
}

function showErrors(field, message) {
  for (const span of form.querySelectorAll(".error[data-for]")) {
    const mine = span.dataset.for === field;
    span.textContent = mine ? message : "";
    form.elements[span.dataset.for].setAttribute("aria-invalid", mine ? "true" : "false");
  }
  document.getElementById("request-error").textContent = field && FIELDS.includes(field) ? "" : message || "";
}

function fillRow(id, part, pieceBound) {
  const row = document.getElementById(id);
  row.querySelector(".seconds").textContent = duration(part.seconds);
  row.querySelector(".binding").textContent = part.binding.replace(/_/g, " ");
  for (const [term, seconds] of Object.entries(part.terms)) {
    const cell = row.querySelector(`.${term}`);
    if (!cell) continue;
    cell.textContent = seconds > 0 ? duration(seconds) : "-"; // as the CLI's table: no such term
    cell.classList.toggle("binding-term", term === part.binding);
  }
  const piece = part.piece_bound;
  row.querySelector(".piece").textContent = piece ? `${duration(piece.seconds)} (${piece.pieces} pieces)` : "-";
  row.dataset.seconds = part.seconds;
  if (pieceBound) row.dataset.pieceSeconds = piece ? piece.seconds : "";
}

function mbps(bps) {
  return `${(bps / 1e6).toPrecision(4)} Mbps`;
}

// The schedules that reach the bounds (bound --schedule), peer 1's rates as the example.
function showSchedule(doc) {
  const say = (label, s) => {
    if (!s || !s.peers || !s.peers.length) return "";
    const p = s.peers[0];
    const kind = s.kind === "client_server" ? "" : ` (${s.kind.replace(/_/g, " ")})`;
    return `${label}${kind}: peer 1 receives ${mbps(p.receive_bps)}, ` +
      `${mbps(p.from_server_bps)} from the server and ${mbps(p.from_peers_bps)} from peers, and uploads ` +
      `${mbps(p.upload_bps)}. `;
  };
  document.getElementById("schedule").textContent =
    `Schedules that reach the bounds: ${say("client-server", doc.client_server.schedule)}${say("P2P", doc.p2p.schedule)}`;
}

function drawPlot(sweep, n, doc) {
  if (typeof Chart === "undefined") return;
  const xs = sweep.x.values;
  const series = sweep.series[0];
  const unit = fig223 ? 3600 : 1; // Fig. 2.23 reads in hours
  const points = (ys) => xs.map((x, i) => ({ x, y: ys[i] / unit }));
  const data = {
    datasets: [
      { label: "D_cs (client-server)", data: points(series.client_server_seconds), borderColor: "#c44e52",
        backgroundColor: "#c44e52", pointRadius: 0, borderWidth: 2 },
      { label: "D_p2p (peer-to-peer)", data: points(series.p2p_seconds), borderColor: "#4c72b0",
        backgroundColor: "#4c72b0", pointRadius: 0, borderWidth: 2 },
      { label: `N = ${n}`, type: "scatter",
        data: [{ x: n, y: doc.client_server.seconds / unit }, { x: n, y: doc.p2p.seconds / unit }],
        backgroundColor: "#222", pointRadius: 5 },
    ],
  };
  const options = {
    animation: false, parsing: false, showLine: true,
    scales: {
      x: { type: fig223 ? "linear" : "logarithmic", title: { display: true, text: "N (peers)" } },
      y: { type: fig223 ? "linear" : "logarithmic", min: fig223 ? 0 : undefined,
           title: { display: true, text: `minimum distribution time (${fig223 ? "hours" : "s"})` } },
    },
    plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label}: N = ${c.parsed.x}, ${duration(c.parsed.y * unit)}` } } },
  };
  if (chart) chart.destroy(); // the axes' kind may change
  chart = new Chart(document.getElementById("plot"), { type: "line", data, options });
  document.getElementById("plot-caption").textContent = fig223
    ? "Fig. 2.23: F/u = 1 hour, u_s = 10u, d_min >= u_s; D_cs and D_p2p in hours against N (linear axes)."
    : "D_cs and D_p2p against N (log axes), the other inputs held; the dot marks the current N.";
  document.getElementById("plot").dataset.points = JSON.stringify(
    { n: xs, cs: series.client_server_seconds, p2p: series.p2p_seconds });
}

async function update() {
  const mine = ++generation;
  const v = values();
  document.body.dataset.state = "busy";
  try {
    const doc = await api("bound", { ...v, schedule: 1 });
    if (mine !== generation) return;
    showErrors(null, "");
    fillRow("row-cs", doc.client_server, true);
    fillRow("row-p2p", doc.p2p, true);
    showSchedule(doc);
    const n = doc.N;
    if (!v["peer-up"].includes(",") && !v["peer-down"].includes(",")) {
      const sweepParams = { "file-size": v["file-size"], "server-up": v["server-up"], "peer-up": v["peer-up"],
                            "peer-down": v["peer-down"], x: "N", from: 1, to: fig223 ? 35 : Math.max(1000, 10 * n),
                            points: fig223 ? 35 : 80, log: fig223 ? 0 : 1 };
      const sweep = await api("sweep", sweepParams);
      if (mine !== generation) return;
      drawPlot(sweep, n, doc);
    }
    document.body.dataset.state = "ready";
  } catch (e) {
    if (mine !== generation) return;
    showErrors(e.field, e.message);
    document.body.dataset.state = "error";
  }
}

let timer = null;
form.addEventListener("input", () => {
  fig223 = false;
  clearTimeout(timer);
  timer = setTimeout(update, 200);
});

function set(inputs) {
  for (const [name, value] of Object.entries(inputs)) form.elements[name].value = value;
  update();
}

document.getElementById("textbook").addEventListener("click", () => {
  fig223 = false;
  set({ N: "10", "file-size": "15Gbit", "server-up": "30Mbps", "peer-up": "300kbps", "peer-down": "2Mbps" });
});

// Fig. 2.23: F/u = 1 hour (F = 3.6 Gbit, u = 1 Mbps), u_s = 10u, d_min >= u_s (unlimited).
document.getElementById("fig223").addEventListener("click", () => {
  fig223 = true;
  set({ N: "35", "file-size": "3.6Gbit", "server-up": "10Mbps", "peer-up": "1Mbps", "peer-down": "unlimited" });
});

document.getElementById("p22").addEventListener("click", async () => {
  const box = document.getElementById("p22-table");
  const body = box.querySelector("tbody");
  body.textContent = "";
  box.hidden = false;
  for (const u of ["300kbps", "700kbps", "2Mbps"]) {
    const docs = await Promise.all([10, 100, 1000].map((n) => api("bound", {
      N: n, "file-size": "15Gbit", "server-up": "30Mbps", "peer-up": u, "peer-down": "2Mbps" })));
    for (const [label, part] of [["client-server", "client_server"], ["P2P", "p2p"]]) {
      const row = body.insertRow();
      row.insertCell().textContent = u;
      row.insertCell().textContent = label;
      for (const d of docs) row.insertCell().textContent = duration(d[part].seconds);
    }
  }
});

fetch("/api/version").then((r) => r.json()).then((v) => {
  document.getElementById("version").textContent = `${v.version}; JSON API: /api/bound, /api/sweep (the CLI's options as parameters)`;
});
update();

// The live swarm: /api/swarm streams the swarm's samples (Server-Sent Events), then its
// JSON document; the ratio shown is the document's own.
const swarmForm = document.getElementById("swarm-inputs");
let source = null;

function mib(bytes) {
  return `${(bytes / 1048576).toFixed(2)} MiB`;
}

function swarmFieldError(field, message) {
  for (const span of swarmForm.querySelectorAll(".error[data-for]")) {
    span.textContent = span.dataset.for === field ? message : "";
  }
  document.getElementById("swarm-status").textContent = field ? "" : message;
}

function peerRows(n) {
  const body = document.querySelector("#swarm-peers tbody");
  if (body.rows.length === n + 1) return body;
  body.textContent = "";
  for (let i = 0; i <= n; i++) {
    const row = body.insertRow();
    row.insertCell().textContent = i === 0 ? "seed" : `leecher ${i}`;
    const bar = document.createElement("progress");
    bar.max = 1;
    bar.value = i === 0 ? 1 : 0;
    row.insertCell().appendChild(bar);
    row.insertCell().className = "percent";
    row.insertCell().className = "up";
    row.insertCell().className = "down";
  }
  return body;
}

function showProgress(p) {
  const body = peerRows(p.leechers);
  const file = p.bytes_total / p.leechers;
  body.rows[0].cells[2].textContent = "100 %";
  body.rows[0].cells[3].textContent = p.up.length ? mib(p.seed_up) : "-";
  body.rows[0].cells[4].textContent = "-";
  if (!p.held.length) {  // a simulation of many leechers: the total only
    document.getElementById("swarm-status").textContent = `${p.elapsed_seconds.toFixed(1)} s (simulated): ` +
      `${Math.floor((100 * p.bytes_held) / p.bytes_total)} %`;
    return;
  }
  p.held.forEach((held, i) => {
    const row = body.rows[i + 1];
    row.cells[1].firstChild.value = held / file;
    row.cells[2].textContent = `${Math.floor((100 * held) / file)} %`;
    row.cells[3].textContent = i < p.up.length ? mib(p.up[i]) : "-";
    row.cells[4].textContent = i < p.down.length ? mib(p.down[i]) : "-";
  });
  document.getElementById("swarm-status").textContent =
    `${p.elapsed_seconds.toFixed(1)} s: ${p.leechers_complete} of ${p.leechers} leechers complete`;
}

function showResult(doc) {
  const body = peerRows(doc.N);
  doc.leechers.forEach((l, i) => {
    const row = body.rows[i + 1];
    if (l.completion_seconds !== null) {
      row.cells[1].firstChild.value = 1;
      row.cells[2].textContent = `100 % at ${l.completion_seconds.toFixed(2)} s`;
    }
    row.cells[3].textContent = mib(l.bytes_up);
    row.cells[4].textContent = mib(l.bytes_down);
  });
  body.rows[0].cells[3].textContent = mib(doc.seed_bytes_up);
  const result = document.getElementById("swarm-result");
  if (doc.distribution_seconds === null) {
    result.textContent = `not every leecher finished (${doc.failure || "timeout"})`;
  } else {
    result.textContent = `measured ${duration(doc.distribution_seconds)}; bound ${duration(doc.bound.seconds)} ` +
      `(${doc.bound.binding.replace(/_/g, " ")}): measured / bound = ${doc.ratio.toFixed(3)}; piece bound ` +
      `${duration(doc.piece_bound.seconds)}: measured / piece bound = ${doc.ratio_to_piece_bound.toFixed(3)}`;
  }
  result.dataset.ratio = doc.ratio;
  const link = document.getElementById("swarm-json");
  link.href = URL.createObjectURL(new Blob([JSON.stringify(doc, null, 1)], { type: "application/json" }));
  link.hidden = false;
}

function endSwarm(state) {
  if (source) source.close();
  source = null;
  document.getElementById("run-swarm").disabled = false;
  document.getElementById("swarm").dataset.state = state;
}

document.getElementById("run-swarm").addEventListener("click", () => {
  if (source) return;
  const params = { "time-scale": "0.2" };
  for (const el of swarmForm.elements) if (el.name && el.name !== "engine") params[el.name] = el.value.trim();
  const engine = swarmForm.elements.engine.value;
  swarmFieldError(null, "starting ...");
  document.getElementById("swarm-result").textContent = "";
  document.getElementById("swarm-json").hidden = true;
  document.getElementById("run-swarm").disabled = true;
  document.getElementById("swarm").dataset.state = "running";
  source = new EventSource(`/api/${engine}?${query(params)}`);
  source.addEventListener("progress", (e) => showProgress(JSON.parse(e.data)));
  source.addEventListener("result", (e) => {
    showResult(JSON.parse(e.data));
    document.getElementById("swarm-status").textContent = "done";
    endSwarm("done");
  });
  source.addEventListener("failed", (e) => {
    const err = JSON.parse(e.data);
    swarmFieldError(err.field, err.error);
    endSwarm("failed");
  });
  source.onerror = () => {
    // the stream ended without a result (the server went away): no reconnection, no second swarm
    if (source) {
      swarmFieldError(null, "the connection to the server ended before the swarm did");
      endSwarm("failed");
    }
  };
});
