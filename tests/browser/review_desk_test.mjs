// The review desk in a real browser: Debian's headless Chromium, driven by
// playwright-core, against a real linkd on loopback (tests/browser/run.sh
// starts it and queues a verification's REVIEW rows). An officer decides
// pairs with the keyboard, undoes one, reloads and finds the state kept,
// switches to English; screenshots are kept in OUT; no request may leave
// localhost. Prints what it measured as JSON on its last line.
//
//   node review_desk_test.mjs URL OUT_DIR [TOKEN]
import { chromium } from "playwright-core";
import { mkdirSync, writeFileSync } from "node:fs";

const [url, out, token] = process.argv.slice(2);
if (!url || !out) {
  console.error("usage: node review_desk_test.mjs URL OUT_DIR [TOKEN]");
  process.exit(2);
}
mkdirSync(out, { recursive: true });

const failures = [];
function check(ok, what) {
  if (!ok) failures.push(what);
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, locale: "vi-VN" });
const page = await context.newPage();

// Every request the page makes; any to another host is refused and counted.
const foreign = [];
let pageBytes = 0, counting = true;  // The first load's page, not its API calls.
await context.route("**/*", (route) => {
  const u = new URL(route.request().url());
  if (u.protocol === "data:" || u.hostname === "127.0.0.1" || u.hostname === "localhost") {
    return route.continue();
  }
  foreign.push(u.href);
  return route.abort();
});
page.on("response", async (res) => {
  if (counting && !res.url().includes("/api/")) {
    try { pageBytes += (await res.body()).length; } catch { /* redirects */ }
  }
});
const consoleErrors = [];
// The sign-in's first call is answered 401 on purpose: Chromium logs it.
page.on("console", (m) => {
  if (m.type() === "error" && !m.text().includes("status of 401")) consoleErrors.push(m.text());
});
page.on("pageerror", (e) => consoleErrors.push(String(e)));

const ready = () => page.waitForSelector('body[data-state="ready"]', { timeout: 15000 });
const recordId = () => page.getAttribute("#pair", "data-record-id");
const progress = async () => (await page.textContent("#progress-text")).trim();
const decided = async () => Number((await progress()).split("/")[0].trim());

// Sign in (with a policy) and see the first pair.
await page.goto(url);
if (token) {
  await page.waitForSelector("#login:not([hidden])", { timeout: 15000 });
  check(true, "the page asks for a token under an access policy");
  await page.fill("#token", token);
  await page.click("#login-go");
}
await ready();
counting = false;
check((await page.textContent("h1")).includes("Bàn xét duyệt"), "Vietnamese by default");
const first = await recordId();
check(Boolean(first), "a pair is shown");
const startDecided = await decided();
await page.screenshot({ path: `${out}/review-desk-vi.png`, fullPage: true });

// Decide pairs with the keyboard, timing each from the key to the next pair.
const keys = ["s", "d", "s", "u", "s", "d", "s", "s", "d", "s", "s", "d"];
const seen = [first];
const times = [];
const t0 = Date.now();
for (const k of keys) {
  const before = await recordId();
  const start = performance.now();
  await page.keyboard.press(k);
  await page.waitForFunction(
    (prev) => {
      const s = document.body.dataset.state;
      const id = document.getElementById("pair").dataset.recordId;
      return s === "empty" || (s === "ready" && id !== prev);
    }, before, { timeout: 15000 });
  times.push(performance.now() - start);
  if ((await page.getAttribute("body", "data-state")) === "empty") break;
  seen.push(await recordId());
}
const elapsedMin = (Date.now() - t0) / 60000;
const made = times.length;
check(made === keys.length, `${made} pairs decided with the keyboard`);
check(new Set(seen).size === seen.length, "each decision moves on to a new pair");
// An unsure pair leaves the pending queue (it has its own filter) but is
// not done: the progress counts same and different only.
const unsure = keys.slice(0, made).filter((k) => k === "u").length;
check((await decided()) === startDecided + made - unsure, "progress counts the decisions");

// Undo the last decision: that pair comes back, pending again.
const lastDecided = seen[made - 1];
await page.keyboard.press("z");
await page.waitForFunction(
  (id) => document.getElementById("pair").dataset.recordId === id &&
          document.body.dataset.state === "ready", lastDecided, { timeout: 15000 });
check((await recordId()) === lastDecided, "undo brings back the last decided pair");
const afterUndo = await progress();

// Reload: the state is the server's, not the page's.
await page.reload();  // The token is kept for the tab's session.
await ready();
check((await progress()) === afterUndo, `after a reload the progress is kept (${afterUndo})`);
check((await recordId()) === lastDecided, "after a reload the undone pair is pending again, first");

// Another candidate is one click away; the register column follows it.
const buttons = await page.$$("#candidates button");
if (buttons.length > 1) {
  const before = await page.textContent("#fields tbody");
  await page.keyboard.press("2");
  const after = await page.textContent("#fields tbody");
  check(before !== after, "key 2 shows the second candidate beside the list record");
  await page.keyboard.press("1");
}

// English.
await page.click("#lang");
check((await page.textContent("#b-same")).includes("Same person"), "English on the switch");
await page.screenshot({ path: `${out}/review-desk-en.png`, fullPage: true });
await page.click("#lang");

check(foreign.length === 0, `no request left localhost (${foreign.length} refused: ${foreign.slice(0, 3)})`);
check(consoleErrors.length === 0, `no script errors (${consoleErrors.slice(0, 3)})`);
await browser.close();

times.sort((a, b) => a - b);
const metrics = {
  decisions: made,
  decisions_per_minute: Math.round(made / elapsedMin),
  next_pair_ms_median: Math.round(times[Math.floor(times.length / 2)]),
  next_pair_ms_max: Math.round(times[times.length - 1]),
  page_bytes: pageBytes,
  undone: lastDecided,
};
writeFileSync(`${out}/metrics.json`, JSON.stringify(metrics, null, 2) + "\n");
console.log(JSON.stringify(metrics));
if (failures.length) {
  console.error(`${failures.length} check(s) failed`);
  process.exit(1);
}

