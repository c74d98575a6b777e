// End-to-end test of the web IDE in a real headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core; nothing is downloaded).
//
//   E2E_BASE_URL=http://127.0.0.1:PORT/ node e2e/run.mjs
//
// infra/setup/test-e2e.sh starts bin/server and runs this against it.
// Screenshots go to E2E_ARTIFACTS (default client/test-results/).
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const base = process.env.E2E_BASE_URL;
if (!base) {
  console.error("E2E_BASE_URL is not set (e.g. http://127.0.0.1:8080/)");
  process.exit(2);
}
const baseUrl = new URL(base).toString();
const artifacts = process.env.E2E_ARTIFACTS ?? path.join(here, "..", "test-results");
mkdirSync(artifacts, { recursive: true });
const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

const HELLO = 'def main():\n    print("Hello from IDE")\n    return {"status": "ok"}';

// inputFocused waits (up to 5 s) for the Input (JSON) box to have the
// focus: the pane opens first and takes the focus a render later.
async function inputFocused(page) {
  return page
    .waitForFunction(() => document.activeElement?.getAttribute("data-testid") === "input", null, { timeout: 5000 })
    .then(
      () => true,
      () => false,
    );
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

async function closedPort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  chromiumSandbox: false,
  // Without these Chromium keeps dialling Google services, which this
  // machine's closed network refuses (see the machine notes).
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

/** A fresh context (empty localStorage) and page; collects page errors. */
async function open({ width = 1280, height = 800, colorScheme = "light" } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, colorScheme });
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  const problems = [];
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  await page.goto(baseUrl);
  await page.locator(".cm-content").waitFor();
  return { context, page, problems };
}

async function setScript(page, text) {
  await page.locator(".cm-content").click();
  await page.keyboard.press("Control+A");
  await page.keyboard.press("Delete");
  await page.keyboard.insertText(text);
  const got = await editorText(page);
  assert(got === text, `editor holds ${JSON.stringify(got)}, want ${JSON.stringify(text)}`);
}

function editorText(page) {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll(".cm-content .cm-line"))
      .map((l) => l.textContent)
      .join("\n"),
  );
}

async function runAndWait(page, { keyboard = false } = {}) {
  if (keyboard) {
    await page.locator(".cm-content").click();
    await page.keyboard.press("Control+Enter");
  } else {
    await page.getByTestId("run").click();
  }
  await page.getByTestId("output-done").waitFor();
  return page.getByTestId("output-done").getAttribute("data-outcome");
}

async function healthState(page, want) {
  await page.waitForFunction(
    (w) => document.querySelector('header [data-testid="health"]')?.getAttribute("data-health") === w,
    want,
    { timeout: 15000 },
  );
}

// Chromium logs every non-2xx fetch as "Failed to load resource"; the API
// answers 4xx by design, so those lines are not page faults.
function noProblems(problems, allow = []) {
  const real = problems.filter((p) => !/Failed to load resource: the server responded/.test(p) && !allow.some((re) => re.test(p)));
  assert(real.length === 0, `page reported errors:\n  ${real.join("\n  ")}`);
}

// WCAG contrast of each selector's text against its effective background.
async function contrastReport(page, selectors) {
  return page.evaluate((sels) => {
    const parse = (c) => {
      const m = c.match(/rgba?\(([^)]+)\)/);
      if (!m) return null;
      const [r, g, b, a = 1] = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
      return { r, g, b, a };
    };
    const lum = ({ r, g, b }) => {
      const f = (v) => {
        v /= 255;
        return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const bgOf = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const c = parse(getComputedStyle(e).backgroundColor);
        if (c && c.a > 0.5) return c;
      }
      return parse(getComputedStyle(document.body).backgroundColor);
    };
    const out = [];
    for (const sel of sels) {
      const el = document.querySelector(sel);
      if (!el) {
        out.push({ sel, missing: true });
        continue;
      }
      const fg = parse(getComputedStyle(el).color);
      const bg = bgOf(el);
      const [l1, l2] = [lum(fg), lum(bg)].sort((a, b) => b - a);
      out.push({ sel, ratio: Math.round(((l1 + 0.05) / (l2 + 0.05)) * 100) / 100 });
    }
    return out;
  }, selectors);
}

const CONTRAST_SELECTORS = [
  ".brand h1",
  ".pane-head h2",
  ".pane-head .hint",
  '[data-testid="run"]',
  'header [data-testid="health"]',
  ".cm-line",
  ".tok-keyword",
  ".tok-string",
  ".cm-lineNumbers .cm-gutterElement:not(.cm-activeLineGutter)",
  ".status-title",
  ".meta dt",
  ".meta dd",
  ".json-key",
  ".json-string",
  ".json-punct",
  '[data-testid="stdout"] pre',
  '[data-testid="stderr"] .empty',
  '.segmented button[aria-pressed="true"]',
  '[data-testid="usage"]',
  '[data-testid="input-toggle"]',
  '[data-testid="input-state"]',
  '[data-testid="files-total"]',
  ".files-help",
];

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

/** Thrown by a test that cannot run here; reported as a TAP skip with the reason, never as a pass. */
class Skip extends Error {}

/** POST /execute straight from Node (no page), for probing what the server can do. */
async function executeDirect(body) {
  const r = await fetch(new URL("execute", baseUrl), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() };
}

// False where the server's jobs have no working directory (a chroot profile
// on a host without user namespaces): it then refuses files.
async function serverTakesFiles() {
  return (await (await fetch(new URL("healthz", baseUrl))).json()).files !== false;
}

const CSV = "city,sales,units\nParis,120,3\nLyon,80,2\nParis,95,4\nNice,60,1\nLyon,40,5\n";
// A 40×20 PNG of four coloured quadrants, written by the script itself so the
// test does not depend on matplotlib.
const PNG_B64 =
  "iVBORw0KGgoAAAANSUhEUgAAACgAAAAUCAIAAABwJOjsAAAANElEQVR42mOQz39NNtJb4Ew2Yhi1eNTiUYtHLSbb4vNKemSjSzOVyEajFo9aPGrxqMVkIwAh5BJtpvt5mwAAAABJRU5ErkJggg==";

/** Names of the files listed in the Files area. */
function attachedNames(page) {
  return page.evaluate(() => Array.from(document.querySelectorAll('[data-testid="attached-file"]')).map((e) => e.getAttribute("data-name")));
}

/** Drops files made in the page onto a selector, as a drag from the desktop would. */
async function dropFiles(page, selector, files) {
  await page.evaluate(
    ({ selector, files }) => {
      const dt = new DataTransfer();
      for (const f of files) dt.items.add(new File([f.size ? new Uint8Array(f.size) : f.text], f.name, { type: f.type ?? "" }));
      const target = document.querySelector(selector);
      for (const type of ["dragenter", "dragover", "drop"]) {
        target.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, composed: true, dataTransfer: dt }));
      }
    },
    { selector, files },
  );
}

test("loads with the hello example, health shows the sandbox profile", async () => {
  const { context, page, problems } = await open();
  try {
    assert((await page.title()) === "Python API IDE", `title ${await page.title()}`);
    assert((await editorText(page)) === HELLO, `initial script ${JSON.stringify(await editorText(page))}`);
    await healthState(page, "up");
    const pill = (await page.locator('header [data-testid="health"]').innerText()).trim();
    const health = await (await fetch(new URL("healthz", baseUrl))).json();
    assert(pill === health.profile, `health pill says ${pill}, /healthz profile is ${health.profile}`);
    noProblems(problems);
  } finally {
    await context.close();
  }
});

test("runs hello (Ctrl+Enter): result {status: ok}, stdout, duration, profile; light screenshot", async () => {
  const { context, page, problems } = await open({ colorScheme: "light" });
  try {
    const outcome = await runAndWait(page, { keyboard: true });
    assert(outcome === "success", `outcome ${outcome}: ${await page.getByTestId("output-done").innerText()}`);
    const tree = await page.getByTestId("result").innerText();
    assert(/"status"\s*:\s*"ok"/.test(tree), `tree shows ${tree}`);
    await page.getByRole("button", { name: "Raw" }).click();
    const raw = JSON.parse(await page.getByTestId("result-raw").innerText());
    assert(JSON.stringify(raw) === '{"status":"ok"}', `raw result ${JSON.stringify(raw)}`);
    await page.getByRole("button", { name: "Tree" }).click();
    const stdout = await page.locator('[data-testid="stdout"] pre').innerText();
    assert(stdout.trim() === "Hello from IDE", `stdout ${JSON.stringify(stdout)}`);
    const duration = await page.getByTestId("duration").innerText();
    assert(/^\d+(\.\d+)? (ms|s)$/.test(duration), `duration ${duration}`);
    const profile = await page.getByTestId("profile").innerText();
    assert(profile.length > 0, "no profile shown");
    assert((await page.getByTestId("http-status").innerText()) === "200", "HTTP status not 200");
    await page.screenshot({ path: path.join(artifacts, "ide-light.png") });
    noProblems(problems);
  } finally {
    await context.close();
  }
});

test("a syntax error marks its line in the editor and shows the error", async () => {
  const { context, page, problems } = await open();
  try {
    await setScript(page, 'def main():\n    x = 1\n    return {"x": x}}');
    const outcome = await runAndWait(page);
    assert(outcome === "failure", `outcome ${outcome}`);
    const err = page.getByTestId("error");
    assert((await err.getAttribute("data-code")) === "syntax_error", `code ${await err.getAttribute("data-code")}`);
    const title = await page.locator(".status-title").innerText();
    assert(title === "Syntax error on line 3", `title ${title}`);
    const marked = page.locator(".cm-error-line");
    assert((await marked.count()) === 1, `${await marked.count()} lines marked`);
    assert((await marked.getAttribute("data-error-line")) === "3", "marked line is not 3");
    assert((await marked.innerText()).includes('return {"x": x}}'), `marked text ${await marked.innerText()}`);
    assert(await page.locator(".cm-error-gutter .cm-error-marker").isVisible(), "no gutter marker");
    // Editing the text clears the mark (the line may now be fixed).
    await page.locator(".cm-content").press("End");
    await page.keyboard.press("Backspace");
    assert((await page.locator(".cm-error-line").count()) === 0, "mark survived an edit");
    noProblems(problems);
  } finally {
    await context.close();
  }
});

test("the os.mkdir example fails on the read-only filesystem with a traceback", async () => {
  const { context, page, problems } = await open();
  try {
    await page.locator("#examples").selectOption("readonly");
    assert((await editorText(page)).includes('os.mkdir("/should_fail")'), "example not loaded");
    const outcome = await runAndWait(page);
    assert(outcome === "failure", `outcome ${outcome}`);
    const err = page.getByTestId("error");
    const code = await err.getAttribute("data-code");
    assert(code === "runtime_error", `code ${code}: ${await err.innerText()}`);
    const text = await err.innerText();
    assert(/read-only|permission denied|errno/i.test(text), `error text ${text}`);
    const tb = await page.getByTestId("traceback").innerText();
    assert(tb.includes('os.mkdir("/should_fail")') || tb.includes("should_fail"), `traceback ${tb}`);
    // The exception's line (3: the os.mkdir call) is marked too.
    assert((await page.locator('.cm-error-line[data-error-line="3"]').count()) === 1, "line 3 not marked");
    assert((await page.getByTestId("result").count()) === 0, "a result tree was shown for a failure");
    noProblems(problems);
  } finally {
    await context.close();
  }
});

test("numpy and pandas examples return their results", async () => {
  const { context, page, problems } = await open();
  try {
    await page.locator("#examples").selectOption("numpy");
    assert((await runAndWait(page)) === "success", await page.getByTestId("output-done").innerText());
    await page.getByRole("button", { name: "Raw" }).click();
    const mean = JSON.parse(await page.getByTestId("result-raw").innerText());
    assert(mean.mean === 3, `numpy mean ${JSON.stringify(mean)}`);
    await page.locator("#examples").selectOption("pandas");
    assert((await runAndWait(page)) === "success", await page.getByTestId("output-done").innerText());
    await page.getByRole("button", { name: "Raw" }).click();
    const pd = JSON.parse(await page.getByTestId("result-raw").innerText());
    assert(pd.rows === 5 && pd.totals.Paris === 215, `pandas result ${JSON.stringify(pd)}`);
    noProblems(problems);
  } finally {
    await context.close();
  }
});

test("the script survives a reload", async () => {
  const { context, page, problems } = await open();
  try {
    const script = 'def main():\n    return {"kept": True}';
    await setScript(page, script);
    await page.waitForTimeout(500); // the editor saves 300 ms after the last keystroke
    await page.reload();
    await page.locator(".cm-content").waitFor();
    assert((await editorText(page)) === script, `after reload: ${JSON.stringify(await editorText(page))}`);
    noProblems(problems);
  } finally {
    await context.close();
  }
});

/** Counts the POST /execute requests the page sends. */
function countExecutes(page) {
  const seen = { n: 0 };
  page.on("request", (r) => {
    if (r.method() === "POST" && new URL(r.url()).pathname.endsWith("/execute")) seen.n++;
  });
  return seen;
}

async function rawResult(page) {
  await page.getByRole("button", { name: "Raw" }).click();
  const raw = JSON.parse(await page.getByTestId("result-raw").innerText());
  await page.getByRole("button", { name: "Tree" }).click();
  return raw;
}

test("Input (JSON): a typed input reaches main(data); usage shown; kept over a reload; screenshots", async () => {
  const { context, page, problems } = await open({ colorScheme: "light" });
  try {
    const toggle = page.getByTestId("input-toggle");
    const box = page.getByTestId("input");
    // A new visitor: the pane is there, collapsed, and says there is no input.
    assert((await toggle.innerText()).includes("Input (JSON)"), `toggle says ${await toggle.innerText()}`);
    assert((await toggle.getAttribute("aria-expanded")) === "false", "pane open for a new visitor");
    assert(/main\(\) is called without/.test(await page.getByTestId("input-state").innerText()), "no 'no input' state");
    await toggle.click();
    assert((await toggle.getAttribute("aria-expanded")) === "true", "toggle did not open the pane");
    assert((await box.getAttribute("aria-label")) === "Input (JSON)", `textarea aria-label ${await box.getAttribute("aria-label")}`);
    assert((await page.getByRole("textbox", { name: "Input (JSON)" }).count()) === 1, "no textbox named Input (JSON)");

    const script = 'def main(data):\n    xs = data["numbers"]\n    print(len(xs))\n    return {"total": sum(xs), "first": type(xs[0]).__name__}';
    await setScript(page, script);
    await box.click();
    await page.keyboard.type('{"numbers": [4.0, 5, 6]}');
    assert(/main\(input\)/.test(await page.getByTestId("input-state").innerText()), "state does not say main(input)");
    // Ctrl+Enter from the input box runs too.
    await page.keyboard.press("Control+Enter");
    await page.getByTestId("output-done").waitFor();
    const outcome = await page.getByTestId("output-done").getAttribute("data-outcome");
    assert(outcome === "success", `outcome ${outcome}: ${await page.getByTestId("output-done").innerText()}`);
    const raw = await rawResult(page);
    // The input goes as typed, not re-serialised by JavaScript: 4.0 reaches Python as a float.
    assert(raw.total === 15 && raw.first === "float", `result ${JSON.stringify(raw)}`);
    assert((await page.getByTestId("result-raw").count()) === 0, "raw view stuck");
    assert((await page.locator('[data-testid="stdout"] pre').innerText()).trim() === "3", "stdout not 3");
    const usage = (await page.getByTestId("usage").innerText()).trim();
    assert(/^CPU \d+(\.\d+)? (ms|s) · peak \d+(\.\d+)? MB$/.test(usage), `usage line ${JSON.stringify(usage)}`);
    assert(await page.getByTestId("usage").isVisible(), "usage not visible");
    await page.screenshot({ path: path.join(artifacts, "ide-input-light.png") });

    // Script and input both survive a reload, and the pane opens with its input.
    await page.waitForTimeout(500);
    await page.reload();
    await page.locator(".cm-content").waitFor();
    assert((await editorText(page)) === script, "script not kept");
    assert((await box.inputValue()) === '{"numbers": [4.0, 5, 6]}', `input after reload ${JSON.stringify(await box.inputValue())}`);
    assert((await toggle.getAttribute("aria-expanded")) === "true", "pane closed after reload although it has an input");

    await page.getByTestId("theme-toggle").click();
    assert((await runAndWait(page)) === "success", "dark run failed");
    await page.getByTestId("usage").waitFor();
    await page.screenshot({ path: path.join(artifacts, "ide-input-dark.png") });
    noProblems(problems);
  } finally {
    await context.close();
  }
});

test("Input (JSON): invalid JSON is not sent; empty is no input, null is a value; examples set and clear it", async () => {
  const { context, page, problems } = await open();
  const executes = countExecutes(page);
  try {
    const box = page.getByTestId("input");
    await page.getByTestId("input-toggle").click();
    await setScript(page, 'def main(data=None):\n    return {"got": data, "is_none": data is None}');

    // Invalid JSON: shown inline, and Run says why instead of sending it.
    await box.fill('{"numbers": [1, 2,');
    const inline = page.getByTestId("input-error");
    assert(await inline.isVisible(), "no inline error for invalid JSON");
    assert(/Not valid JSON/.test(await inline.innerText()), `inline error ${await inline.innerText()}`);
    assert((await box.getAttribute("aria-invalid")) === "true", "textarea not aria-invalid");
    assert((await page.getByTestId("run").getAttribute("aria-describedby")) === "input-error", "Run not described by the input error");
    const before = executes.n;
    await page.getByTestId("run").click();
    await page.getByTestId("output-done").waitFor();
    assert((await page.getByTestId("output-done").getAttribute("data-outcome")) === "invalid_input", "invalid input was not refused");
    assert(/input is not valid JSON/.test(await page.locator(".status-title").innerText()), "no reason given");
    assert((await page.getByTestId("error").getAttribute("data-code")) === "invalid_input", "error code");
    await page.waitForTimeout(300);
    assert(executes.n === before, `${executes.n - before} request(s) sent with invalid input`);
    assert(await inputFocused(page), "focus not moved to the input");
    await page.screenshot({ path: path.join(artifacts, "ide-input-invalid.png") });
    // The curl button does not make a command from it either.
    await page.getByRole("button", { name: /curl/ }).click();
    assert((await page.locator("#curl-text").inputValue()).startsWith("# No command"), "curl built from invalid input");
    await page.keyboard.press("Escape");

    // The literal null is a value: main(None).
    await box.fill("null");
    assert((await runAndWait(page)) === "success", "null input failed");
    let raw = await rawResult(page);
    assert(raw.is_none === true && raw.got === null, `null input gave ${JSON.stringify(raw)}`);
    await page.getByRole("button", { name: /curl/ }).click();
    const cmd = await page.locator("#curl-text").inputValue();
    assert(cmd.includes('"input":null'), `curl lacks the input: ${cmd}`);
    const out = await new Promise((resolve, reject) =>
      execFile("sh", ["-c", cmd], { timeout: 20000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message} ${stderr}`)) : resolve(stdout))),
    );
    assert(JSON.stringify(JSON.parse(out).result) === '{"got":null,"is_none":true}', `curl with input got ${out}`);
    await page.keyboard.press("Escape");

    // Empty (whitespace only) is no input: main() gets its default.
    await box.fill("  \n ");
    const n = executes.n;
    assert((await runAndWait(page)) === "success", "no-input run failed");
    raw = await rawResult(page);
    assert(raw.is_none === true, `no input gave ${JSON.stringify(raw)}`);
    assert(executes.n === n + 1, "run with empty input not sent");

    // main(data) without a default and no input: the server's 400 names it, and the IDE points at the pane.
    await setScript(page, "def main(data):\n    return data");
    await box.fill("");
    assert((await runAndWait(page)) === "failure", "mismatch not a failure");
    const err = page.getByTestId("error");
    assert((await err.getAttribute("data-code")) === "invalid_request", `code ${await err.getAttribute("data-code")}`);
    assert(/input/.test(await err.innerText()), `message does not name the input: ${await err.innerText()}`);
    await page.getByRole("button", { name: "Go to the Input (JSON) pane" }).click();
    assert(await inputFocused(page), "Go to the input did not focus it");

    // The example sets the input; one without an input clears it.
    await page.locator("#examples").selectOption("input-sum");
    assert((await box.inputValue()) === '{"numbers": [1, 2, 3]}', `example input ${await box.inputValue()}`);
    assert((await editorText(page)).startsWith("def main(data):"), "example script not loaded");
    assert((await runAndWait(page)) === "success", "input example failed");
    raw = await rawResult(page);
    assert(raw.total === 6, `input example gave ${JSON.stringify(raw)}`);
    await page.locator("#examples").selectOption("hello");
    assert((await box.inputValue()) === "", `hello left the input ${await box.inputValue()}`);
    assert((await runAndWait(page)) === "success", "hello after clearing the input failed");
    noProblems(problems);
  } finally {
    await context.close();
  }
});

test("Files: attach a CSV, run the CSV example, summary.csv offered for download; curl carries it; not kept over a reload; screenshot", async () => {
  const { context, page, problems } = await open({ colorScheme: "light" });
  try {
    const takesFiles = await serverTakesFiles();
    const pane = page.getByTestId("files-pane");
    assert(await pane.isVisible(), "no Files area");
    assert((await page.getByTestId("files-total").innerText()).includes("none attached"), "Files area does not say none attached");
    assert(/not kept across reloads/.test(await pane.innerText()), "the Files area does not say files are not kept");
    assert(await page.getByTestId("files-add").isVisible(), "no Add files button");

    await page.getByTestId("files-input").setInputFiles({ name: "data.csv", mimeType: "text/csv", buffer: Buffer.from(CSV) });
    await page.locator('[data-testid="attached-file"][data-name="data.csv"]').waitFor();
    const item = await page.locator('[data-testid="attached-file"]').innerText();
    assert(item.includes(`${Buffer.byteLength(CSV)} B`), `attached file shows ${JSON.stringify(item)}`);
    assert((await page.getByTestId("files-total").innerText()).startsWith("1 file · "), `total ${await page.getByTestId("files-total").innerText()}`);

    await page.locator("#examples").selectOption("csv-summary");
    assert((await editorText(page)).includes('pd.read_csv("data.csv")'), "CSV example not loaded");
    assert((await attachedNames(page)).join() === "data.csv", "loading an example dropped the attached file");
    const outcome = await runAndWait(page);
    if (!takesFiles) {
      // No working directory for jobs: the server refuses files, and says so.
      const err = page.getByTestId("error");
      assert(outcome === "failure" && (await err.getAttribute("data-code")) === "invalid_request", `outcome ${outcome}`);
      assert(/file/i.test(await err.innerText()), `message ${await err.innerText()}`);
      throw new Skip("the server's jobs have no working directory, so it refuses files (its 400 was checked)");
    }
    assert(outcome === "success", `outcome ${outcome}: ${await page.getByTestId("output-done").innerText()}`);
    const raw = await rawResult(page);
    assert(Array.isArray(raw) && raw.length === 8, `result ${JSON.stringify(raw)}`);
    assert(raw[0].statistic === "count" && raw[0].sales === 5 && raw[1].statistic === "mean" && raw[1].sales === 79 && raw[1].units === 3, `describe() gave ${JSON.stringify(raw)}`);
    const stdout = await page.locator('[data-testid="stdout"] pre').innerText();
    assert(stdout.trim() === "5 rows, columns: city, sales, units", `stdout ${JSON.stringify(stdout)}`);

    // summary.csv is listed with a Download link that gives its bytes.
    const files = page.getByTestId("output-files");
    assert(await files.isVisible(), "no output files section");
    const entry = page.locator('[data-testid="output-file"][data-name="summary.csv"]');
    assert((await entry.count()) === 1, "summary.csv not listed");
    assert((await entry.getAttribute("data-kind")) === "file", "summary.csv not listed as a file");
    assert(/text\/csv · \d+ B/.test(await entry.innerText()), `summary.csv entry ${await entry.innerText()}`);
    const link = entry.getByRole("link", { name: "Download summary.csv" });
    assert((await link.getAttribute("download")) === "summary.csv", "no download attribute");
    assert(/^blob:/.test((await link.getAttribute("href")) ?? ""), `href ${await link.getAttribute("href")}`);
    const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
    assert(download.suggestedFilename() === "summary.csv", `downloaded as ${download.suggestedFilename()}`);
    const csv = readFileSync(await download.path(), "utf8");
    assert(csv.startsWith(",sales,units\n") && csv.includes("count,5.0,5.0\n") && csv.includes("mean,79.0,3.0\n"), `summary.csv holds ${JSON.stringify(csv)}`);
    assert((await page.getByTestId("files-skipped").count()) === 0, "files-skipped shown with nothing skipped");

    const report = await contrastReport(page, [
      '[data-testid="files-total"]',
      ".files-help",
      '[data-testid="attached-file"] .file-name',
      '[data-testid="attached-file"] .file-size',
      '[data-testid="output-file"] .file-name',
      '[data-testid="output-file"] .file-size',
      '[data-testid="output-file-download"]',
    ]);
    const low = report.filter((r) => r.missing || r.ratio < 4.5);
    assert(low.length === 0, `low contrast: ${JSON.stringify(low)}`);
    await page.screenshot({ path: path.join(artifacts, "ide-files.png") });

    // Copy as curl carries the file: the command really runs it.
    await page.getByRole("button", { name: /curl/ }).click();
    const cmd = await page.locator("#curl-text").inputValue();
    assert(cmd.includes(`"files":[{"name":"data.csv","content":"${Buffer.from(CSV).toString("base64")}"}]`), `curl lacks the file: ${cmd.slice(0, 300)}`);
    const out = await new Promise((resolve, reject) =>
      execFile("sh", ["-c", cmd], { timeout: 20000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message} ${stderr}`)) : resolve(stdout))),
    );
    const viaCurl = JSON.parse(out);
    assert(viaCurl.result?.[1]?.sales === 79 && viaCurl.files?.[0]?.name === "summary.csv", `curl got ${out.slice(0, 300)}`);
    await page.keyboard.press("Escape");

    // Remove works; a file with the same name replaces, not duplicates.
    await page.getByTestId("files-input").setInputFiles([
      { name: "data.csv", mimeType: "text/csv", buffer: Buffer.from("a\n1\n") },
      { name: "extra.txt", mimeType: "text/plain", buffer: Buffer.from("x") },
    ]);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="attached-file"]').length === 2);
    assert((await attachedNames(page)).sort().join() === "data.csv,extra.txt", `attached ${await attachedNames(page)}`);
    await page.getByRole("button", { name: "Remove extra.txt" }).click();
    assert((await attachedNames(page)).join() === "data.csv", `after remove ${await attachedNames(page)}`);

    // Attached files are not kept: after a reload the list is empty.
    await page.reload();
    await page.locator(".cm-content").waitFor();
    assert((await attachedNames(page)).length === 0, "attached files survived a reload");
    assert((await page.getByTestId("files-total").innerText()).includes("none attached"), "total after reload");
    const stored = await page.evaluate(() => Object.keys(localStorage).map((k) => localStorage.getItem(k) ?? "").join("\n"));
    assert(!stored.includes(Buffer.from(CSV).toString("base64")), "file contents were written to localStorage");
    noProblems(problems);
  } finally {
    await context.close();
  }
});

test("Files: drop on the editor attaches (the script is untouched); over 100 files or 16 MiB is refused with a message", async () => {
  const { context, page, problems } = await open();
  try {
    const before = await editorText(page);
    await dropFiles(page, ".cm-content", [{ name: "dropped.csv", text: "x,y\n1,2\n", type: "text/csv" }]);
    await page.locator('[data-testid="attached-file"][data-name="dropped.csv"]').waitFor();
    assert((await editorText(page)) === before, `the drop changed the script: ${JSON.stringify(await editorText(page))}`);
    await dropFiles(page, '[data-testid="files-pane"]', [{ name: "second.txt", text: "hi", type: "text/plain" }]);
    await page.locator('[data-testid="attached-file"][data-name="second.txt"]').waitFor();

    // 17 MiB in one file: refused, nothing added, the message says why.
    await dropFiles(page, '[data-testid="files-pane"]', [{ name: "huge.bin", size: 17 * 1024 * 1024 }]);
    const err = page.getByTestId("files-error");
    await err.waitFor();
    assert(/limit is 16 MiB/.test(await err.innerText()), `size message ${await err.innerText()}`);
    assert((await attachedNames(page)).join() === "dropped.csv,second.txt", `after a refused drop: ${await attachedNames(page)}`);

    // 99 more would make 101 files: refused.
    const many = Array.from({ length: 99 }, (_, i) => ({ name: `f${i}.txt`, mimeType: "text/plain", buffer: Buffer.from(String(i)) }));
    await page.getByTestId("files-input").setInputFiles(many);
    await page.waitForFunction(() => /101 files; the limit is 100/.test(document.querySelector('[data-testid="files-error"]')?.textContent ?? ""));
    assert((await attachedNames(page)).length === 2, "files were attached past the limit");
    // 98 more make exactly 100: accepted, and the message goes.
    await page.getByTestId("files-input").setInputFiles(many.slice(0, 98));
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="attached-file"]').length === 100);
    assert((await page.getByTestId("files-error").count()) === 0, "the refusal message stayed after a good addition");
    await page.getByRole("button", { name: "Remove all attached files" }).click();
    assert((await attachedNames(page)).length === 0, "Clear left files");
    noProblems(problems);
  } finally {
    await context.close();
  }
});

test("Files: PNG and SVG outputs render inline, a symlink is listed as skipped; dark screenshot", async () => {
  const { context, page, problems } = await open({ colorScheme: "dark" });
  try {
    if (!(await serverTakesFiles())) throw new Skip("the server's jobs have no working directory, so no outputs/");
    const script = [
      "import base64",
      "import os",
      "",
      `PNG = "${PNG_B64}"`,
      `SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="90" height="40"><rect width="90" height="40" fill="#2ea043"/><circle cx="20" cy="20" r="14" fill="#cf222e"/></svg>'`,
      "",
      "",
      "def main():",
      '    with open("outputs/quadrants.png", "wb") as f:',
      "        f.write(base64.b64decode(PNG))",
      '    with open("outputs/shape.svg", "w") as f:',
      "        f.write(SVG)",
      '    with open("outputs/notes.txt", "w") as f:',
      '        f.write("plain text\\n")',
      '    os.symlink("quadrants.png", "outputs/link.png")',
      '    return {"written": sorted(os.listdir("outputs"))}',
    ].join("\n");
    await setScript(page, script);
    const outcome = await runAndWait(page);
    assert(outcome === "success", `outcome ${outcome}: ${await page.getByTestId("output-done").innerText()}`);
    const section = page.getByTestId("output-files");
    await section.waitFor();
    for (const [name, w, h] of [["quadrants.png", 40, 20], ["shape.svg", 90, 40]]) {
      const fig = page.locator(`[data-testid="output-file"][data-name="${name}"]`);
      assert((await fig.getAttribute("data-kind")) === "image", `${name} is not shown as an image`);
      const img = fig.locator("img");
      await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle());
      const size = await img.evaluate((el) => [el.naturalWidth, el.naturalHeight, el.src.slice(0, 30)]);
      assert(size[0] === w && size[1] === h, `${name} natural size ${size}`);
      assert(size[2].startsWith(name.endsWith(".svg") ? "data:image/svg+xml;base64," : "data:image/png;base64,"), `${name} src ${size[2]}`);
      assert((await fig.innerText()).includes(name), `${name} caption lacks its name`);
      assert(/\d+ B/.test(await fig.innerText()), `${name} caption lacks its size`);
    }
    // The SVG's markup never entered the page, only an <img>.
    assert((await page.locator('[data-testid="output-files"] svg circle').count()) === 0, "SVG markup was injected");
    const txt = page.locator('[data-testid="output-file"][data-name="notes.txt"]');
    assert((await txt.getAttribute("data-kind")) === "file", "notes.txt not a file entry");
    assert((await txt.getByRole("link", { name: "Download notes.txt" }).count()) === 1, "notes.txt has no Download link");
    const skipped = await page.getByTestId("files-skipped").innerText();
    assert(/link\.png/.test(skipped), `files-skipped shows ${JSON.stringify(skipped)}`);
    assert((await page.getByTestId("files-truncated").count()) === 0, "truncated note without truncation");
    const report = await contrastReport(page, ['[data-testid="files-skipped"] li', '[data-testid="output-file"] .file-name', '[data-testid="output-file-download"]']);
    const low = report.filter((r) => r.missing || r.ratio < 4.5);
    assert(low.length === 0, `low contrast: ${JSON.stringify(low)}`);
    await section.scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(artifacts, "ide-files-dark.png") });
    noProblems(problems);
  } finally {
    await context.close();
  }
});

test("the sine-wave example plots with matplotlib (skipped when the runtime has no matplotlib)", async () => {
  const probe = await executeDirect({ script: "import matplotlib\n\ndef main():\n    return matplotlib.__version__" });
  if (probe.status !== 200) {
    const e = probe.body.error ?? {};
    throw new Skip(`matplotlib cannot be imported on this server (${probe.status} ${e.code}: ${e.type ?? ""} ${e.message ?? ""}`.trim() + ")");
  }
  const { context, page, problems } = await open();
  try {
    await page.locator("#examples").selectOption("plot-sine");
    assert((await editorText(page)).includes('plt.savefig("outputs/sine.png"'), "plot example not loaded");
    const outcome = await runAndWait(page);
    assert(outcome === "success", `outcome ${outcome}: ${await page.getByTestId("output-done").innerText()}`);
    const raw = await rawResult(page);
    assert(raw.points === 200, `plot result ${JSON.stringify(raw)}`);
    const img = page.locator('[data-testid="output-file"][data-name="sine.png"] img');
    await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle());
    assert((await img.evaluate((el) => el.naturalWidth)) === 600, "sine.png is not 600 px wide");
    await page.screenshot({ path: path.join(artifacts, "ide-plot.png") });
    noProblems(problems);
  } finally {
    await context.close();
  }
});

test("a limit that ends the job is named with its value", async () => {
  const { context, page, problems } = await open();
  try {
    await setScript(page, "def main():\n    b = bytearray(64 * 1024**3)\n    return len(b)");
    assert((await runAndWait(page)) === "failure", "64 GiB allocation did not fail");
    const code = await page.getByTestId("error").getAttribute("data-code");
    assert(code === "memory_limit", `code ${code}`);
    const limit = (await page.getByTestId("error-limit").innerText()).trim();
    assert(/^Limit: memory_mb = \d+ \(\d+ MB of memory\)$/.test(limit), `limit line ${JSON.stringify(limit)}`);
    assert(/^CPU /.test(await page.getByTestId("usage").innerText()), "no usage on a failure");
    await page.screenshot({ path: path.join(artifacts, "ide-limit.png") });
    noProblems(problems);
  } finally {
    await context.close();
  }
});

test("in-flight state shows elapsed time and Cancel aborts the request", async () => {
  const { context, page, problems } = await open();
  try {
    await setScript(page, "import time\n\ndef main():\n    time.sleep(4)\n    return 1");
    await page.getByTestId("run").click();
    await page.getByTestId("output-running").waitFor();
    await page.waitForFunction(() => {
      const t = document.querySelector('[data-testid="cancel"] .elapsed')?.textContent ?? "";
      return parseFloat(t) >= 0.5;
    });
    const t0 = Date.now();
    await page.getByTestId("cancel").click();
    await page.getByTestId("output-done").waitFor();
    assert((await page.getByTestId("output-done").getAttribute("data-outcome")) === "aborted", "not aborted");
    assert(Date.now() - t0 < 2000, `cancel took ${Date.now() - t0} ms`);
    assert((await page.locator(".status-title").innerText()) === "Cancelled", "no Cancelled title");
    assert(await page.getByTestId("run").isEnabled(), "Run not back after cancel");
    noProblems(problems);
  } finally {
    await context.close();
  }
});

test("theme follows the system, toggles, persists; dark screenshot", async () => {
  const { context, page, problems } = await open({ colorScheme: "dark" });
  const bg = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  try {
    assert((await bg()) === "rgb(13, 17, 23)", `system dark gives ${await bg()}`);
    assert((await page.evaluate(() => document.documentElement.dataset.theme)) === undefined, "a theme was forced");
    await page.getByTestId("theme-toggle").click();
    assert((await bg()) === "rgb(255, 255, 255)", `after toggle ${await bg()}`);
    await page.reload();
    await page.locator(".cm-content").waitFor();
    assert((await bg()) === "rgb(255, 255, 255)", `light choice not kept over system dark: ${await bg()}`);
    await page.getByTestId("theme-toggle").click();
    assert((await bg()) === "rgb(13, 17, 23)", `toggle back ${await bg()}`);
    assert((await runAndWait(page)) === "success", "hello failed");
    await page.screenshot({ path: path.join(artifacts, "ide-dark.png") });
    noProblems(problems);
  } finally {
    await context.close();
  }
});

test("text contrast is at least 4.5:1 in both themes", async () => {
  const failures = [];
  for (const scheme of ["light", "dark"]) {
    const { context, page } = await open({ colorScheme: scheme });
    try {
      await runAndWait(page);
      const report = await contrastReport(page, CONTRAST_SELECTORS);
      await setScript(page, "def main():\n    return 1/0");
      await runAndWait(page);
      report.push(...(await contrastReport(page, [".status-title", ".alert p", ".alert-code", ".traceback pre", ".cm-error-line"])));
      await setScript(page, "def main():\n    b = bytearray(64 * 1024**3)\n    return len(b)");
      await runAndWait(page);
      report.push(...(await contrastReport(page, ['[data-testid="error-limit"]', '[data-testid="error-limit"] .muted'])));
      await page.getByTestId("input-toggle").click();
      await page.getByTestId("input").fill("{");
      report.push(...(await contrastReport(page, ["#input-json", '[data-testid="input-error"]', ".input-help", '[data-testid="input-state"]'])));
      const min = Math.min(...report.filter((r) => !r.missing).map((r) => r.ratio));
      console.log(`  # ${scheme}: ${report.length} elements, lowest contrast ${min}:1`);
      for (const r of report) {
        if (r.missing) failures.push(`${scheme} ${r.sel}: not found`);
        else if (r.ratio < 4.5) failures.push(`${scheme} ${r.sel}: ${r.ratio}:1`);
      }
    } finally {
      await context.close();
    }
  }
  assert(failures.length === 0, failures.join("; "));
});

test("changing the endpoint: a bad URL is unreachable, then back to same origin", async () => {
  const { context, page, problems } = await open();
  try {
    await healthState(page, "up");
    const port = await closedPort();
    const bad = `http://127.0.0.1:${port}`;
    await page.getByTestId("open-settings").click();
    await page.locator("#endpoint-url").fill("not a url");
    assert(await page.getByRole("button", { name: /Save endpoint/ }).isDisabled(), "Save enabled for an invalid URL");
    await page.locator("#endpoint-url").fill(bad);
    await page.getByRole("button", { name: /Save endpoint/ }).click();
    await healthState(page, "unreachable");
    const detail = await page.getByTestId("health-detail").innerText();
    assert(detail.includes(`${bad}/healthz`), `health detail ${detail}`);
    await page.getByRole("button", { name: "Close settings" }).click();
    assert((await runAndWait(page)) === "network", "run against a closed port was not a network failure");
    assert((await page.locator(".status-title").innerText()) === "Endpoint unreachable", "no unreachable title");
    // The choice persists.
    await page.reload();
    await healthState(page, "unreachable");
    await page.getByTestId("open-settings").click();
    assert((await page.locator("#endpoint-url").inputValue()) === bad, "endpoint not persisted");
    await page.getByRole("button", { name: /same origin/ }).click();
    await healthState(page, "up");
    await page.getByRole("button", { name: "Close settings" }).click();
    assert((await runAndWait(page)) === "success", "run after reset failed");
    noProblems(problems, [/ERR_CONNECTION_REFUSED/]);
  } finally {
    await context.close();
  }
});

test("Copy as curl gives a command that really runs the script", async () => {
  const { context, page, problems } = await open();
  try {
    await page.getByRole("button", { name: /curl/ }).click();
    const cmd = await page.locator("#curl-text").inputValue();
    assert(cmd.startsWith(`curl -sS -X POST '${new URL("execute", baseUrl)}'`), `command ${cmd}`);
    const out = await new Promise((resolve, reject) =>
      execFile("sh", ["-c", cmd], { timeout: 20000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message} ${stderr}`)) : resolve(stdout))),
    );
    const body = JSON.parse(out);
    assert(JSON.stringify(body.result) === '{"status":"ok"}' && body.stdout === "Hello from IDE\n", `curl got ${out}`);
    await page.keyboard.press("Escape");
    assert(!(await page.getByTestId("curl-dialog").isVisible()), "dialog did not close on Escape");
    noProblems(problems);
  } finally {
    await context.close();
  }
});

test("keyboard: focus order and a name on every control", async () => {
  const { context, page, problems } = await open();
  try {
    const unnamed = await page.evaluate(() => {
      const bad = [];
      for (const el of document.querySelectorAll("button, select, input, textarea, [contenteditable=true]")) {
        const id = el.id && document.querySelector(`label[for="${el.id}"]`);
        const name = el.getAttribute("aria-label") || el.getAttribute("aria-labelledby") || (id && id.textContent.trim()) || el.textContent.trim();
        if (!name) bad.push(el.outerHTML.slice(0, 80));
      }
      return bad;
    });
    assert(unnamed.length === 0, `controls without a name: ${unnamed.join(" | ")}`);
    // Tab from the top until the editor has focus (Tab inside it indents).
    const order = [];
    for (let i = 0; i < 12 && !/Python script/.test(order.at(-1) ?? ""); i++) {
      await page.keyboard.press("Tab");
      order.push(
        await page.evaluate(() => {
          const el = document.activeElement;
          return el?.getAttribute("aria-label") ?? el?.id ?? el?.tagName;
        }),
      );
    }
    const idx = (re) => order.findIndex((n) => re.test(n ?? ""));
    const [ex, run, settings, editor] = [idx(/example/i), idx(/^Run/), idx(/settings/i), idx(/Python script/)];
    assert(ex === 0 && run > ex && settings > run && editor > settings, `focus order: ${order.join(" → ")}`);
    // Run from the keyboard alone: focus Run and press Enter.
    await page.locator('[data-testid="run"]').focus();
    await page.keyboard.press("Enter");
    await page.getByTestId("output-done").waitFor();
    assert((await page.getByTestId("output-done").getAttribute("data-outcome")) === "success", "keyboard run failed");
    noProblems(problems);
  } finally {
    await context.close();
  }
});

test("narrow window (400 px): no horizontal scroll, runs; screenshot", async () => {
  const { context, page, problems } = await open({ width: 400, height: 800 });
  try {
    assert((await runAndWait(page)) === "success", "hello failed at 400 px");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert(overflow <= 0, `page is ${overflow}px wider than the window`);
    for (const id of ["run", "open-settings", "theme-toggle"]) {
      const box = await page.getByTestId(id).boundingBox();
      assert(box && box.x >= 0 && box.x + box.width <= 400, `${id} outside the window: ${JSON.stringify(box)}`);
    }
    await page.screenshot({ path: path.join(artifacts, "ide-narrow.png"), fullPage: true });
    noProblems(problems);
  } finally {
    await context.close();
  }
});

let passed = 0;
let failed = 0;
let skipped = 0;
const started = Date.now();
for (const [i, t] of tests.entries()) {
  const t0 = Date.now();
  try {
    await t.fn();
    passed++;
    console.log(`ok ${i + 1} - ${t.name} (${Date.now() - t0} ms)`);
  } catch (e) {
    if (e instanceof Skip) {
      skipped++;
      console.log(`ok ${i + 1} - ${t.name} # SKIP ${e.message}`);
      continue;
    }
    failed++;
    console.log(`not ok ${i + 1} - ${t.name} (${Date.now() - t0} ms)\n  ${String(e?.stack ?? e).split("\n").join("\n  ")}`);
  }
}
await browser.close();
console.log(`# e2e against ${baseUrl} in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${artifacts}`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed === 0 && passed + skipped === tests.length ? 0 : 1);
