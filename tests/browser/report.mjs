// Opens a `sweep report` HTML file (file://, offline) in headless Chromium
// over CDP and checks it draws without a server: the trials table, every
// chart, the best trial's confusion matrix, no console errors. Run by
// tests/tests/local_db.rs with REPORT (the file), TRIALS, CHROMIUM, SCREENSHOTS.
import { chromium } from "playwright-core";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const check = (condition, message) => { if (!condition) throw new Error(`check failed: ${message}`); };
const TRIALS = Number(env("TRIALS"));
const SHOTS = env("SCREENSHOTS");
mkdirSync(SHOTS, { recursive: true });

const profile = mkdtempSync(join(tmpdir(), "sweep-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: env("CHROMIUM"),
  headless: true,
  chromiumSandbox: false,
  viewport: { width: 1400, height: 900 },
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
});
const errors = [];
const requests = [];
try {
  const page = context.pages()[0] || (await context.newPage());
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("request", (r) => { if (!r.url().startsWith("file:") && !r.url().startsWith("data:")) requests.push(r.url()); });
  await page.goto(`file://${env("REPORT")}`);
  await page.waitForSelector("#best-trial #chart-confusion canvas", { timeout: 15000 });
  const series = (id) => page.$eval(`#${id}`, (n) => Number(n.dataset.series));
  const rows = await page.$$eval("#trials tbody tr", (r) => r.length);
  check(rows === Math.min(TRIALS, 50), `table rows: ${rows}`);
  check(await series("chart-val-acc") === TRIALS, "one curve per trial");
  check(await series("chart-parallel") === 1, "parallel coordinates");
  check(await series("chart-confusion") === 1, "the best trial's confusion matrix");
  await page.click("#trials th[data-sort=metric]");
  await page.waitForSelector("#trials th[data-sort=metric].asc");
  check(errors.length === 0, `console errors: ${errors.join(" | ")}`);
  check(requests.length === 0, `the report fetched from the network: ${requests.join(" ")}`);
  await page.screenshot({ path: join(SHOTS, "report.png"), fullPage: true });
  console.log(JSON.stringify({ rows, errors: errors.length }));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
