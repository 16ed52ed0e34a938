// Drives headless Chromium (Debian's `chromium`) over CDP with playwright-core
// against a real coordinator's dashboard, and asserts on the rendered DOM.
// Run by tests/tests/dashboard_browser.rs, which starts the coordinator and
// simulated workers and passes, in the environment:
//   SWEEP_HTTP    the dashboard's base URL       SWEEP_TOKEN   a client token
//   SWEEP_FINISHED a finished sweep's id (FINISHED_TRIALS trials, PARAMS params)
//   SWEEP_LIVE    a running sweep's id           CHROMIUM      the browser binary
//   SCREENSHOTS   where the PNGs go
// Prints one JSON line of measurements; exits non-zero on the first failure.
import { chromium } from "playwright-core";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const BASE = env("SWEEP_HTTP");
const TOKEN = env("SWEEP_TOKEN");
const FINISHED = env("SWEEP_FINISHED");
const FINISHED_TRIALS = Number(env("FINISHED_TRIALS"));
const PARAMS = Number(env("PARAMS"));
const LIVE = env("SWEEP_LIVE");
const SHOTS = env("SCREENSHOTS");
mkdirSync(SHOTS, { recursive: true });

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

const profile = mkdtempSync(join(tmpdir(), "sweep-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: env("CHROMIUM"),
  headless: true,
  chromiumSandbox: false,
  viewport: { width: 1400, height: 900 },
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
  ],
});
const consoleErrors = [];
const measured = {};
try {
  const page = context.pages()[0] || (await context.newPage());
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(`${page.url()}: ${m.text()}`); });
  page.on("pageerror", (e) => consoleErrors.push(`${page.url()}: ${e.message}`));

  const rendersAtLeast = async (n) => page.waitForFunction((k) => Number(document.body.dataset.renders || 0) >= k, n, { timeout: 15000 });
  const series = (id) => page.$eval(`#${id}`, (n) => Number(n.dataset.series));
  const hasCanvas = (id) => page.$eval(`#${id}`, (n) => n.querySelector("canvas") !== null);

  // Signed out: the page sends the browser to /login; the token becomes a cookie.
  await page.goto(`${BASE}/`);
  check(page.url().endsWith("/login"), `signed-out / should land on /login, got ${page.url()}`);
  await page.fill("input[name=token]", TOKEN);
  await Promise.all([page.waitForURL(`${BASE}/`), page.click("button[type=submit]")]);
  const cookies = await context.cookies();
  const cookie = cookies.find((c) => c.name === "sweep_token");
  check(cookie && cookie.httpOnly, "the token is kept in an HttpOnly cookie");

  // Sweeps page.
  await rendersAtLeast(1);
  const sweepRows = await page.$$eval("#sweeps tbody tr", (rows) => rows.map((r) => r.dataset.sweep));
  check(sweepRows.includes(FINISHED) && sweepRows.includes(LIVE), `both sweeps listed: ${sweepRows}`);
  await page.screenshot({ path: join(SHOTS, "sweeps.png"), fullPage: true });

  // The finished sweep: table, curves, parallel coordinates, importance, slices.
  await page.goto(`${BASE}/sweeps/${FINISHED}`);
  await rendersAtLeast(1);
  const rows = await page.$$eval("#trials tbody tr", (r) => r.length);
  check(rows === Math.min(FINISHED_TRIALS, 50), `trials table rows: ${rows}`);
  const headers = await page.$$eval("#trials thead th", (h) => h.map((x) => x.textContent));
  check(headers.length === 9 + PARAMS, `one column per parameter: ${headers}`);
  check(await series("chart-val-acc") === FINISHED_TRIALS, `val-acc curves: ${await series("chart-val-acc")}`);
  check(await series("chart-loss") === 2 * FINISHED_TRIALS, `loss curves: ${await series("chart-loss")}`);
  check(await series("chart-parallel") === 1, "parallel coordinates");
  check(await series("chart-importance") === 1, "importance bars");
  for (const id of ["chart-val-acc", "chart-loss", "chart-parallel", "chart-importance", "chart-slice-0"]) {
    check(await hasCanvas(id), `${id} drew a canvas`);
  }
  const slices = await page.$$eval("#slices .chart", (s) => s.length);
  check(slices === PARAMS, `one slice plot per parameter: ${slices}`);
  const method = await page.textContent("#importance-method");
  check(/variance decomposition/.test(method), `importance names its method: ${method}`);
  const phaseNote = await page.textContent("#curves-note");
  check(/phase 2 starts \(epoch \d+\)/.test(phaseNote), `phase-2 marker: ${phaseNote}`);
  await page.screenshot({ path: join(SHOTS, "sweep-finished.png"), fullPage: true });

  // Sorting happens on the server: the metric column, then reversed.
  const metricColumn = 2 + PARAMS;
  const metricsShown = () => page.$$eval(`#trials tbody tr td:nth-child(${metricColumn + 1})`, (c) => c.map((x) => Number(x.textContent)));
  await page.click("#trials th[data-sort=metric]");
  await page.waitForSelector("#trials th[data-sort=metric].asc");
  const ascending = await metricsShown();
  check(ascending.every((v, i) => i === 0 || ascending[i - 1] <= v), `ascending metric: ${ascending}`);
  await page.click("#trials th[data-sort=metric]");
  await page.waitForSelector("#trials th[data-sort=metric].desc");
  const descending = await metricsShown();
  check(descending.every((v, i) => i === 0 || descending[i - 1] >= v), `descending metric: ${descending}`);

  // The best trial's page.
  await page.goto(`${BASE}/sweeps/${FINISHED}`);
  await rendersAtLeast(1);
  const bestHref = await page.$eval("#fact-best a", (a) => a.getAttribute("href"));
  await page.goto(`${BASE}${bestHref}`);
  await rendersAtLeast(1);
  const epochRows = await page.$$eval("#epochs tbody tr", (r) => r.length);
  check(epochRows > 0, "epoch table has rows");
  check(await series("chart-trial-curves") === 4, "trial curves: 4 series");
  check(await series("chart-confusion") === 1 && await hasCanvas("chart-confusion"), "confusion heatmap");
  check(await series("chart-per-class") === 1, "per-class accuracy");
  check(await series("chart-reliability") === 2 && await hasCanvas("chart-reliability"), "reliability diagram (bins and the diagonal)");
  const test = await page.textContent("#test-metrics");
  check(/Accuracy/.test(test) && /ECE/.test(test), `test metrics: ${test}`);
  check((await page.$$eval("#outcomes tbody tr", (r) => r.length)) >= 1, "attempts listed");
  check((await page.textContent("#config")).includes("phase2"), "resolved config shown");
  await page.screenshot({ path: join(SHOTS, "trial.png"), fullPage: true });

  // Workers page.
  await page.goto(`${BASE}/workers`);
  await rendersAtLeast(1);
  const workers = await page.$$eval("#workers tbody tr", (r) => r.length);
  check(workers >= 1, `workers listed: ${workers}`);
  await page.screenshot({ path: join(SHOTS, "workers.png"), fullPage: true });

  // The live sweep: a trial finishing shows up within 2 s, without a reload.
  await page.goto(`${BASE}/sweeps/${LIVE}`);
  await rendersAtLeast(1);
  await page.waitForFunction(() => document.getElementById("live").textContent.includes("live"), null, { timeout: 5000 });
  const doneOnPage = () => page.$eval("#fact-trials", (n) => Number((/(\d+) done/.exec(n.textContent) || [])[1]));
  const doneOnServer = async () => {
    const r = await fetch(`${BASE}/api/sweeps/${LIVE}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    return (await r.json()).summary.done;
  };
  // A trial may finish while the page loads: start from a count both agree on.
  let before = -1;
  for (let k = 0; k < 60 && before !== (await doneOnPage()); k++) {
    before = await doneOnServer();
    await new Promise((r) => setTimeout(r, 50));
  }
  check((await doneOnPage()) === before, "page and server agree before the update");
  const deadline = Date.now() + 60000;
  let finishedAt = 0;
  while (Date.now() < deadline) {
    if ((await doneOnServer()) > before) { finishedAt = Date.now(); break; }
    await new Promise((r) => setTimeout(r, 50));
  }
  check(finishedAt > 0, "a live trial finished within 60 s");
  await page.waitForFunction((k) => {
    const m = /(\d+) done/.exec(document.getElementById("fact-trials").textContent);
    return m && Number(m[1]) > k;
  }, before, { timeout: 2000, polling: 20 });
  measured.live_update_ms = Date.now() - finishedAt;
  check(measured.live_update_ms <= 2000, `live update took ${measured.live_update_ms} ms`);
  // Charts redrawn by the update draw into the fresh containers.
  await rendersAtLeast(2);
  const sliceDrawn = await page.waitForFunction(() => {
    const n = document.getElementById("chart-slice-0");
    return n && n.dataset.series === "1" && n.querySelector("canvas") !== null;
  }, null, { timeout: 3000 }).then(() => true, () => false);
  check(sliceDrawn, `slice plot redrawn after the update: ${await page.$eval("#slices", (n) => n.innerHTML.slice(0, 300))}`);
  check(await series("chart-val-acc") >= before + 1, "the finished trial's curve is drawn");
  await page.screenshot({ path: join(SHOTS, "sweep-live.png"), fullPage: true });

  check(consoleErrors.length === 0, `console errors: ${consoleErrors.join(" | ")}`);
  measured.finished_rows = rows;
  measured.console_errors = consoleErrors.length;
  console.log(JSON.stringify(measured));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
