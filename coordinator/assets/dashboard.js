// The sweep dashboard: reads /api, draws with Apache ECharts, stays live
// through the sweep's server-sent events. Every text from the store goes
// into the page through textContent (never innerHTML), so a sweep name or
// an error message cannot inject markup. Each chart container gets
// data-series (its series count) and the body data-renders (renders so
// far), which the browser test reads.
"use strict";

const PAGE = document.body.dataset.page;
// A report (`sweep report`) carries its data inline instead of reading /api.
const INLINE = document.getElementById("sweep-data");
const DATA = INLINE ? JSON.parse(INLINE.textContent) : null;
const main = document.getElementById("main");
const charts = new Map();
let renders = 0;

// ---- small helpers -------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "onclick") node.addEventListener("click", v);
    else node.setAttribute(k, v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

async function api(path) {
  if (DATA) return inlineApi(path);
  const r = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (r.status === 401) {
    location.href = "/login";
    throw new Error("signed out");
  }
  if (!r.ok) {
    let message = r.statusText;
    try { message = (await r.json()).error || message; } catch (_) { /* not JSON */ }
    throw new Error(`${path}: ${r.status} ${message}`);
  }
  return r.json();
}

// The report's stand-in for /api: its documents, and the trials table
// sorted (missing values last, ties by index) and paged here.
function inlineApi(path) {
  const [route, query] = path.split("?");
  if (route.endsWith("/trials") && query !== undefined) {
    const q = new URLSearchParams(query);
    const t = DATA.table;
    const sort = q.get("sort") || "rank";
    const desc = q.get("desc") === "true";
    const offset = Number(q.get("offset") || 0);
    const limit = Number(q.get("limit") || 50);
    const param = sort.startsWith("p:") ? t.param_names.indexOf(sort.slice(2)) : -1;
    const key = (r) => {
      const v = param >= 0 ? r.params[param]
        : sort === "rank" ? (r.rank || null) : sort === "worker" ? (r.worker_id || null) : r[sort];
      return v === undefined ? null : v;
    };
    const rows = [...t.rows].sort((a, b) => {
      const ka = key(a), kb = key(b);
      if (ka === null || kb === null) return (ka === null) - (kb === null) || a.index - b.index;
      const o = typeof ka === "number" && typeof kb === "number" ? ka - kb : String(ka).localeCompare(String(kb));
      return (desc ? -o : o) || a.index - b.index;
    });
    return { param_names: t.param_names, metric_name: t.metric_name, page: { total: rows.length, offset, rows: rows.slice(offset, offset + limit) } };
  }
  if (route in DATA.docs) return DATA.docs[route];
  throw new Error(`not in this report: ${route}`);
}

/// A trial page's address; in a report, only the best trial has one (below).
function trialHref(sweepId, trialId) {
  if (DATA) return trialId === DATA.best ? "#best-trial" : null;
  return `/sweeps/${encodeURIComponent(sweepId)}/trials/${encodeURIComponent(trialId)}`;
}

function num(v, digits = 4) {
  if (v === null || v === undefined || Number.isNaN(v)) return "—";
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
  return v.toFixed(digits);
}

function paramText(v) {
  if (v === null || v === undefined) return "—";
  return typeof v === "number" ? num(v) : typeof v === "string" ? v : JSON.stringify(v);
}

function when(ms) {
  return ms ? new Date(ms).toLocaleString() : "—";
}

function duration(seconds) {
  if (!Number.isFinite(seconds)) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function ago(ms) {
  return ms ? `${duration((Date.now() - ms) / 1000)} ago` : "—";
}

function shortId(id) {
  return id && id.length > 14 ? id.slice(0, 12) + "…" : id || "—";
}

function badge(state) {
  return el("span", { class: `badge ${state}` }, state);
}

function section(title, ...children) {
  return el("section", { class: "card" }, el("h2", {}, title), ...children);
}

function rendered() {
  renders += 1;
  document.body.dataset.renders = String(renders);
}

function showError(e) {
  console.warn(e);
  const box = document.getElementById("error") || main.insertBefore(el("p", { id: "error", class: "error" }), main.firstChild);
  box.textContent = String(e.message || e);
}

// ---- charts --------------------------------------------------------------

const PALETTE = ["#5470c6", "#91cc75", "#fac858", "#ee6666", "#73c0de", "#3ba272", "#fc8452", "#9a60b4", "#ea7ccc"];

function chart(id, option) {
  const node = document.getElementById(id);
  if (!node) return null;
  let c = charts.get(id);
  // A re-rendered section brings a fresh container: the old chart goes with the old one.
  if (c && !c.isDisposed() && c.getDom() !== node) c.dispose();
  if (!c || c.isDisposed()) {
    c = echarts.init(node, null, { renderer: "canvas" });
    charts.set(id, c);
  }
  c.setOption(Object.assign({ animation: false }, option), { notMerge: true });
  node.dataset.series = String((option.series || []).length);
  return c;
}

window.addEventListener("resize", () => charts.forEach((c) => c.resize()));

function curveSeries(curves, field, best, dashed) {
  return curves.curves.map((c) => {
    const isBest = c.trial_id === best;
    return {
      name: shortId(c.trial_id) + (dashed ? " (train)" : ""),
      type: "line",
      showSymbol: isBest,
      symbolSize: 4,
      z: isBest ? 10 : 2,
      data: c.epoch.map((e, i) => [e, c[field][i]]),
      lineStyle: {
        width: isBest ? 3 : 1,
        type: dashed ? "dashed" : "solid",
        color: isBest ? "#d62728" : dashed ? "#9aa7b8" : "#6b8fc7",
        opacity: isBest ? 1 : 0.35,
      },
      itemStyle: { color: isBest ? "#d62728" : "#6b8fc7" },
      emphasis: { focus: "series" },
    };
  });
}

function phaseMarker(series, epoch) {
  if (!epoch || !series.length) return series;
  series[0].markLine = {
    silent: true,
    symbol: "none",
    label: { formatter: "phase 2", position: "insideEndTop" },
    lineStyle: { type: "dotted", color: "#333", width: 1.5, opacity: 1 },
    data: [{ xAxis: epoch - 0.5 }],
  };
  return series;
}

function curveOption(title, series, yName) {
  return {
    title: { text: title, left: "center", textStyle: { fontSize: 13 } },
    tooltip: { trigger: "item", formatter: (p) => `${p.seriesName}<br>epoch ${p.value[0]}: ${num(p.value[1])}` },
    grid: { left: 55, right: 20, top: 35, bottom: 40 },
    xAxis: { type: "value", name: "epoch", nameLocation: "middle", nameGap: 25, minInterval: 1 },
    yAxis: { type: "value", name: yName, scale: true },
    series,
  };
}

// ---- sweeps page ---------------------------------------------------------

async function sweepsPage() {
  const sweeps = await api("/api/sweeps");
  const rows = sweeps.map((s) => {
    const age = s.state === "running" ? duration((Date.now() - s.created_unix_ms) / 1000) : "—";
    return el("tr", { "data-sweep": s.sweep_id },
      el("td", {}, el("a", { href: `/sweeps/${encodeURIComponent(s.sweep_id)}` }, s.name || s.sweep_id)),
      el("td", { class: "mono" }, s.sweep_id),
      el("td", {}, badge(s.state)),
      el("td", { class: "num" }, `${s.done + s.failed + s.cancelled} / ${s.total}`),
      el("td", { class: "num" }, s.running),
      el("td", { class: "num" }, s.failed),
      el("td", {}, `${s.metric_name} (${s.goal})`),
      el("td", { class: "num" }, num(s.best_metric)),
      el("td", {}, when(s.created_unix_ms)),
      el("td", {}, age),
    );
  });
  main.replaceChildren(section(`Sweeps (${sweeps.length})`,
    sweeps.length === 0 ? el("p", { class: "muted" }, "No sweeps yet: sweep submit FILE.") :
      el("table", { id: "sweeps" },
        el("thead", {}, el("tr", {}, ["Name", "Id", "State", "Finished / all", "Running", "Failed", "Metric", "Best", "Created", "Running for"].map((h) => el("th", {}, h)))),
        el("tbody", {}, rows))));
  rendered();
}

// ---- sweep page ----------------------------------------------------------

const table = { sort: "rank", desc: false, offset: 0, limit: 50 };

function sweepSkeleton() {
  main.replaceChildren(
    el("section", { class: "card", id: "summary" }),
    section("Trials", el("div", { id: "pager", class: "pager" }), el("div", { class: "scroll" }, el("table", { id: "trials" }))),
    section("Learning curves",
      el("p", { class: "muted", id: "curves-note" }),
      el("div", { class: "row" }, el("div", { id: "chart-val-acc", class: "chart" }), el("div", { id: "chart-loss", class: "chart" }))),
    section("Parameters against the metric", el("p", { class: "muted", id: "points-note" }), el("div", { id: "chart-parallel", class: "chart wide" })),
    section("Parameter importance", el("p", { class: "muted", id: "importance-method" }), el("div", { id: "chart-importance", class: "chart" })),
    section("Slice plots", el("div", { id: "slices", class: "grid" })),
  );
}

function sweepSummary(sweep) {
  const s = sweep.summary;
  const facts = [
    ["State", badge(s.state)],
    ["Metric", `${s.metric_name} (${s.goal})`],
    ["Best", s.best_trial ? el("span", {}, num(s.best_metric), " ", el("a", { href: trialHref(s.sweep_id, s.best_trial) }, shortId(s.best_trial))) : "—"],
    ["Trials", `${s.total} (${s.pending} pending, ${s.running} running, ${s.done} done, ${s.failed} failed, ${s.cancelled} cancelled)`],
    ["Created", when(s.created_unix_ms)],
    ["Compute", duration(sweep.compute_s)],
  ];
  const box = document.getElementById("summary");
  box.replaceChildren(...[
    el("h1", {}, s.name || s.sweep_id, " ", el("span", { class: "mono muted" }, s.sweep_id)),
    el("dl", { class: "facts" }, facts.map(([k, v]) => [el("dt", {}, k), el("dd", { id: `fact-${k.toLowerCase()}` }, v)])),
    s.stalled_reason ? el("p", { class: "error" }, s.stalled_reason) : null,
    s.running_trials.length ? el("p", { class: "muted" }, "Running: ",
      s.running_trials.map(([trial, worker, done, all]) => `${shortId(trial)} on ${worker} (epoch ${done}/${all})`).join(", ")) : null,
  ].filter(Boolean));
}

function tableColumns(paramNames, metricName) {
  return [
    ["rank", "Rank"], ["state", "State"],
    ...paramNames.map((p) => [`p:${p}`, p]),
    ["metric", metricName], ["test_acc", "Test acc"], ["test_ece", "Test ECE"],
    ["best_epoch", "Best epoch"], ["wall_s", "Wall"], ["worker", "Worker"], ["attempts", "Attempts"],
  ];
}

async function loadTrials(sweepId) {
  const q = new URLSearchParams({ sort: table.sort, desc: String(table.desc), offset: String(table.offset), limit: String(table.limit) });
  const data = await api(`/api/sweeps/${encodeURIComponent(sweepId)}/trials?${q}`);
  const page = data.page;
  const columns = tableColumns(data.param_names, data.metric_name);
  const head = el("tr", {}, columns.map(([key, label]) => el("th", {
    class: "sortable" + (table.sort === key ? (table.desc ? " desc" : " asc") : ""),
    "data-sort": key,
    onclick: () => {
      if (table.sort === key) table.desc = !table.desc; else { table.sort = key; table.desc = false; }
      table.offset = 0;
      loadTrials(sweepId).catch(showError);
    },
  }, label)));
  const body = page.rows.map((r) => el("tr", { "data-trial": r.trial_id, class: r.rank === 1 ? "best" : null },
    el("td", { class: "num" }, r.rank || "—"),
    el("td", {}, badge(r.diverged ? "diverged" : r.state)),
    r.params.map((v) => el("td", { class: "num" }, paramText(v))),
    el("td", { class: "num" }, el("a", { href: trialHref(sweepId, r.trial_id) }, num(r.metric))),
    el("td", { class: "num" }, num(r.test_acc)),
    el("td", { class: "num" }, num(r.test_ece)),
    el("td", { class: "num" }, r.best_epoch || "—"),
    el("td", { class: "num" }, duration(r.wall_s)),
    el("td", { class: "mono" }, r.worker_id || "—"),
    el("td", { class: "num" }, r.attempts),
  ));
  document.getElementById("trials").replaceChildren(el("thead", {}, head), el("tbody", {}, body));
  const last = Math.min(page.offset + page.rows.length, page.total);
  const go = (offset) => () => { table.offset = offset; loadTrials(sweepId).catch(showError); };
  document.getElementById("pager").replaceChildren(
    el("button", { id: "prev", disabled: page.offset === 0 ? "" : null, onclick: go(Math.max(0, page.offset - table.limit)) }, "‹ Previous"),
    el("span", { id: "page-info" }, page.total ? ` rows ${page.offset + 1}–${last} of ${page.total} ` : " no trials "),
    el("button", { id: "next", disabled: last >= page.total ? "" : null, onclick: go(page.offset + table.limit) }, "Next ›"),
  );
}

function drawCurves(curves) {
  const note = curves.shown < curves.total ? `Showing ${curves.shown} of ${curves.total} trials (best ranked first). ` : "";
  document.getElementById("curves-note").textContent =
    `${note}Best trial in red; dotted line: phase 2 starts${curves.phase2_epoch ? ` (epoch ${curves.phase2_epoch})` : " (no phase 2 yet)"}.`;
  // The best trial is drawn last, on top.
  const order = { ...curves, curves: [...curves.curves].sort((a, b) => (a.trial_id === curves.best) - (b.trial_id === curves.best)) };
  chart("chart-val-acc", curveOption("Validation accuracy", phaseMarker(curveSeries(order, "val_acc", curves.best, false), curves.phase2_epoch), "val acc"));
  const loss = [...curveSeries(order, "val_loss", curves.best, false), ...curveSeries(order, "train_loss", curves.best, true)];
  chart("chart-loss", curveOption("Loss (validation solid, training dashed)", phaseMarker(loss, curves.phase2_epoch), "loss"));
}

function drawPoints(points) {
  document.getElementById("points-note").textContent = points.total > points.rows.length
    ? `Best ${points.rows.length} of ${points.total} finished trials.` : `${points.total} finished trial(s); colour: ${points.metric_name}.`;
  const metricIndex = points.axes.length;
  const values = points.rows.map((r) => r[metricIndex]).filter(Number.isFinite);
  const lo = values.length ? Math.min(...values) : 0;
  const hi = values.length ? Math.max(...values) : 1;
  const axes = points.axes.map((a, i) => (a.kind === "category"
    ? { dim: i, name: a.name, type: "category", data: a.categories }
    : { dim: i, name: a.name, type: a.log ? "log" : "value", scale: true }));
  axes.push({ dim: metricIndex, name: points.metric_name, type: "value", scale: true });
  chart("chart-parallel", {
    parallelAxis: axes,
    parallel: { left: 60, right: 90, top: 40, bottom: 30, parallelAxisDefault: { nameLocation: "end", nameTextStyle: { fontSize: 11 } } },
    visualMap: { type: "continuous", min: lo, max: hi === lo ? lo + 1e-9 : hi, dimension: metricIndex, right: 0, top: "middle", calculable: true, text: [points.metric_name, ""], inRange: { color: ["#313695", "#74add1", "#fee090", "#f46d43", "#a50026"] } },
    series: [{ type: "parallel", lineStyle: { width: 1.5, opacity: 0.6 }, data: points.rows.map((r) => r.map((v) => (Number.isFinite(v) ? v : null))) }],
  });
  const slices = document.getElementById("slices");
  slices.replaceChildren(...points.axes.map((_, i) => el("div", { id: `chart-slice-${i}`, class: "chart small" })));
  points.axes.forEach((a, i) => {
    const data = points.rows.map((r, k) => ({ value: [a.kind === "category" ? a.categories[r[i]] : r[i], r[metricIndex]], trial: points.trial_ids[k] }));
    chart(`chart-slice-${i}`, {
      title: { text: a.name, left: "center", textStyle: { fontSize: 12 } },
      tooltip: { trigger: "item", formatter: (p) => `${shortId(p.data.trial)}<br>${a.name} = ${paramText(p.value[0])}<br>${points.metric_name} = ${num(p.value[1])}` },
      grid: { left: 50, right: 15, top: 30, bottom: 35 },
      xAxis: a.kind === "category" ? { type: "category", data: a.categories } : { type: a.log ? "log" : "value", scale: true },
      yAxis: { type: "value", scale: true, name: points.metric_name },
      series: [{ type: "scatter", symbolSize: 7, data, itemStyle: { opacity: 0.7 } }],
    });
  });
}

function drawImportance(importance) {
  document.getElementById("importance-method").textContent = `Method: ${importance.method}.` +
    (importance.shares.length ? "" : " Needs at least 4 finished trials whose metric varies.");
  const shares = [...importance.shares].reverse();
  chart("chart-importance", {
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    grid: { left: 160, right: 30, top: 10, bottom: 30 },
    xAxis: { type: "value", min: 0, max: 1, name: "share of variance" },
    yAxis: { type: "category", data: shares.map((s) => s.param) },
    series: [{ type: "bar", data: shares.map((s) => s.share), itemStyle: { color: "#5470c6" }, label: { show: true, position: "right", formatter: (p) => `${(p.value * 100).toFixed(1)} %` } }],
  });
}

async function refreshSweep(sweepId) {
  const base = `/api/sweeps/${encodeURIComponent(sweepId)}`;
  const [sweep, curves, points] = await Promise.all([api(base), api(`${base}/curves`), api(`${base}/points`)]);
  sweepSummary(sweep);
  await loadTrials(sweepId);
  drawCurves(curves);
  drawPoints(points);
  drawImportance(sweep.importance);
  document.title = `sweep: ${sweep.summary.name || sweepId}`;
  rendered();
}

// ---- trial page ----------------------------------------------------------

async function trialPage(sweepId, trialId, target = main) {
  const t = await api(`/api/sweeps/${encodeURIComponent(sweepId)}/trials/${encodeURIComponent(trialId)}`);
  const r = t.row;
  const result = t.result;
  if (!DATA) document.title = `sweep: trial ${shortId(trialId)}`;
  const params = t.param_names.map((p, i) => [p, paramText(r.params[i])]);
  const epochs = t.epochs || [];
  target.replaceChildren(
    el("section", { class: "card", id: "trial-summary" },
      el("h1", {}, DATA ? "Best trial " : "Trial ", el("span", { class: "mono" }, trialId)),
      el("p", {}, "Sweep ", el("a", { href: DATA ? "#summary" : `/sweeps/${encodeURIComponent(sweepId)}` }, t.sweep.name || sweepId)),
      el("dl", { class: "facts" }, [
        ["State", badge(r.diverged ? "diverged" : r.state)], ["Rank", r.rank || "—"], [t.sweep.metric_name, num(r.metric)],
        ["Best epoch", r.best_epoch || "—"], ["Wall", duration(r.wall_s)], ["Worker", r.worker_id || "—"], ["Attempts", r.attempts],
        ...params,
      ].map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
      r.error ? el("p", { class: "error" }, r.error) : null),
    section("Test metrics", result ? el("dl", { class: "facts", id: "test-metrics" },
      [["Accuracy", num(result.test.acc)], ["Loss", num(result.test.loss)], ["ECE", num(result.test.ece)], ["Host", result.host], ["Threads", result.threads]]
        .map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])) : el("p", { class: "muted" }, "No result yet.")),
    section("Learning curves", el("div", { id: "chart-trial-curves", class: "chart wide" })),
    section("Epochs", el("div", { class: "scroll" }, el("table", { id: "epochs" },
      el("thead", {}, el("tr", {}, ["Epoch", "Phase", "Train loss", "Train acc", "Val loss", "Val acc", "Val ECE", "LR backbone", "LR head", "Wall"].map((h) => el("th", {}, h)))),
      el("tbody", {}, epochs.map((e) => el("tr", {}, [e.epoch, e.phase, num(e.train_loss), num(e.train_acc), num(e.val_loss), num(e.val_acc), num(e.val_ece), num(e.lr_backbone), num(e.lr_head), duration(e.wall_s)].map((v) => el("td", { class: "num" }, v)))))))),
    section("Per-class accuracy", result ? el("div", { id: "chart-per-class", class: "chart" }) : el("p", { class: "muted" }, "No result yet.")),
    section("Confusion matrix (test)", result ? el("div", { id: "chart-confusion", class: "chart square" }) : el("p", { class: "muted" }, "No result yet.")),
    result && result.val ? section("Confusion matrix (val, kept weights)", el("div", { id: "chart-confusion-val", class: "chart square" })) : null,
    result && result.calibration ? section("Calibration: temperature scaling (fitted on val)", el("dl", { class: "facts", id: "calibration" },
      [["Temperature", num(result.calibration.temperature)],
        ["Val NLL", `${num(result.calibration.val_nll_before)} → ${num(result.calibration.val_nll_after)}`],
        ["Test NLL", `${num(result.calibration.test_nll_before)} → ${num(result.calibration.test_nll_after)}`],
        ["Test ECE", `${num(result.calibration.test_ece_before)} → ${num(result.calibration.test_ece_after)}`]]
        .map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]))) : null,
    section("Reliability diagram (test)", result && (result.test.reliability || []).length
      ? el("div", { id: "chart-reliability", class: "chart" })
      : el("p", { class: "muted", id: "reliability" }, result
        ? "Not recorded: this result predates per-bin confidence and accuracy (its ECE is above)."
        : "No result yet.")),
    section("Attempts", el("table", { id: "outcomes" },
      el("thead", {}, el("tr", {}, ["#", "Worker", "Outcome", "Error"].map((h) => el("th", {}, h)))),
      el("tbody", {}, t.outcomes.length ? t.outcomes.map((o, i) => el("tr", {}, el("td", { class: "num" }, i + 1), el("td", { class: "mono" }, o.worker_id), el("td", {}, badge(o.kind)), el("td", { class: "pre" }, o.error || "")))
        : el("tr", {}, el("td", { colspan: "4", class: "muted" }, `No report yet (attempt ${t.attempt || 0} ${r.state}).`))))),
    section("Resolved config", el("pre", { id: "config" }, JSON.stringify(t.config, null, 2))),
  );
  const phase2 = (epochs.find((e) => e.phase >= 2) || {}).epoch;
  const line = (name, field, dashed) => ({ name, type: "line", data: epochs.map((e) => [e.epoch, Number.isFinite(e[field]) ? e[field] : null]), lineStyle: { type: dashed ? "dashed" : "solid" } });
  chart("chart-trial-curves", {
    ...curveOption("", phaseMarker([line("val acc", "val_acc"), line("val loss", "val_loss"), line("train loss", "train_loss", true), line("train acc", "train_acc", true)], phase2), ""),
    legend: { top: 0 },
    tooltip: { trigger: "axis" },
  });
  if (result) {
    const classes = result.test.per_class_acc.map((_, i) => String(i));
    chart("chart-per-class", {
      tooltip: { trigger: "axis" },
      grid: { left: 50, right: 20, top: 20, bottom: 35 },
      xAxis: { type: "category", data: classes, name: "class" },
      yAxis: { type: "value", min: 0, max: 1 },
      series: [{ type: "bar", data: result.test.per_class_acc, itemStyle: { color: "#3ba272" } }],
    });
    const confusion = (id, matrix) => {
      const cells = [];
      let most = 1;
      matrix.forEach((row, truth) => row.forEach((n, predicted) => { cells.push([predicted, truth, n]); most = Math.max(most, n); }));
      chart(id, {
        tooltip: { formatter: (p) => `true ${p.value[1]}, predicted ${p.value[0]}: ${p.value[2]}` },
        grid: { left: 60, right: 20, top: 10, bottom: 80 },
        xAxis: { type: "category", data: classes, name: "predicted", nameLocation: "middle", nameGap: 25 },
        yAxis: { type: "category", data: classes, name: "true", inverse: true },
        visualMap: { min: 0, max: most, calculable: true, orient: "horizontal", left: "center", bottom: 0, inRange: { color: ["#f7fbff", "#6baed6", "#08306b"] } },
        series: [{ type: "heatmap", data: cells, label: { show: true, fontSize: 9 } }],
      });
    };
    confusion("chart-confusion", result.test.confusion);
    if (result.val) confusion("chart-confusion-val", result.val.confusion);
    const bins = result.test.reliability || [];
    const after = (result.calibration || {}).test_reliability_after || [];
    if (bins.length) {
      // Accuracy per confidence bin (bars at the bin's middle) against the diagonal of perfect calibration.
      chart("chart-reliability", {
        tooltip: { trigger: "item", formatter: (p) => p.seriesIndex === 0
          ? `confidence ${num(bins[p.dataIndex].lower)}–${num(bins[p.dataIndex].upper)}: ${bins[p.dataIndex].count} predictions, accuracy ${num(bins[p.dataIndex].accuracy)}, mean confidence ${num(bins[p.dataIndex].confidence)}`
          : p.seriesIndex === 2
            ? `after temperature scaling, confidence ${num(after[p.dataIndex].lower)}–${num(after[p.dataIndex].upper)}: ${after[p.dataIndex].count} predictions, accuracy ${num(after[p.dataIndex].accuracy)}`
            : "perfect calibration" },
        legend: { top: 0 },
        grid: { left: 50, right: 20, top: 30, bottom: 40 },
        xAxis: { type: "value", min: 0, max: 1, name: "confidence", nameLocation: "middle", nameGap: 25 },
        yAxis: { type: "value", min: 0, max: 1, name: "accuracy" },
        series: [
          { name: "accuracy", type: "bar", barWidth: "5%", data: bins.map((b) => [(b.lower + b.upper) / 2, b.accuracy]), itemStyle: { color: "#5470c6" } },
          { name: "calibrated", type: "line", symbol: "none", data: [[0, 0], [1, 1]], lineStyle: { type: "dashed", color: "#999" } },
          ...(after.length ? [{ name: "accuracy after temperature scaling", type: "bar", barWidth: "5%", data: after.map((b) => [(b.lower + b.upper) / 2, b.accuracy]), itemStyle: { color: "#fac858" } }] : []),
        ],
      });
    }
  }
  rendered();
}

// ---- workers page --------------------------------------------------------

async function workersPage() {
  const workers = await api("/api/workers");
  main.replaceChildren(section(`Workers (${workers.length})`,
    workers.length === 0 ? el("p", { class: "muted" }, "No worker has registered.") :
      el("table", { id: "workers" },
        el("thead", {}, el("tr", {}, ["Worker", "Host", "Cores", "Slots", "Version", "State", "Last seen", "Done", "Failed", "Env. failures", "Running now"].map((h) => el("th", {}, h)))),
        el("tbody", {}, workers.map((w) => el("tr", { "data-worker": w.worker_id },
          el("td", { class: "mono" }, w.worker_id), el("td", {}, w.hostname), el("td", { class: "num" }, w.cores), el("td", { class: "num" }, w.slots),
          el("td", {}, w.version), el("td", {}, badge(w.state), w.quarantine_reason ? el("div", { class: "muted" }, w.quarantine_reason) : null),
          el("td", {}, ago(w.last_seen_unix_ms)), el("td", { class: "num" }, w.done), el("td", { class: "num" }, w.failed), el("td", { class: "num" }, w.environment_failures),
          el("td", {}, w.current.length ? w.current.map(([s, t]) => el("div", {}, el("a", { href: `/sweeps/${encodeURIComponent(s)}/trials/${encodeURIComponent(t)}` }, shortId(t)))) : "—"),
        ))))));
  rendered();
}

// ---- live updates ----------------------------------------------------------

function live(sweepId, refresh) {
  const indicator = document.getElementById("live");
  let pending = false;
  let running = false;
  const run = async () => {
    if (running) { pending = true; return; }
    running = true;
    try { await refresh(); } catch (e) { showError(e); }
    running = false;
    if (pending) { pending = false; run(); }
  };
  const source = new EventSource(`/api/sweeps/${encodeURIComponent(sweepId)}/events`);
  source.addEventListener("change", () => run());
  source.onopen = () => { indicator.textContent = "● live"; indicator.className = "on"; };
  source.onerror = () => { indicator.textContent = "○ reconnecting"; indicator.className = "off"; };
}

function poll(refresh, ms) {
  const tick = async () => {
    try { await refresh(); } catch (e) { showError(e); }
    setTimeout(tick, ms);
  };
  tick();
}

// ---- routing ---------------------------------------------------------------

const parts = location.pathname.split("/").filter(Boolean).map(decodeURIComponent);
if (DATA) {
  sweepSkeleton();
  document.getElementById("live").textContent = `generated ${DATA.generated}`;
  refreshSweep(DATA.sweep_id).then(async () => {
    if (!DATA.best) return;
    const box = main.appendChild(el("div", { id: "best-trial" }));
    await trialPage(DATA.sweep_id, DATA.best, box);
  }).catch(showError);
}
else if (PAGE === "sweeps") poll(sweepsPage, 5000);
else if (PAGE === "workers") poll(workersPage, 5000);
else if (PAGE === "sweep") { sweepSkeleton(); live(parts[1], () => refreshSweep(parts[1])); }
else if (PAGE === "trial") live(parts[1], () => trialPage(parts[1], parts[3]));
