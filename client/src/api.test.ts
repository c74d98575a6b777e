import { describe as suite, expect, it } from "vitest";
import {
  apiUrl,
  authHeaders,
  base64ToBytes,
  bytesToBase64,
  dataUrl,
  INPUT_FILES_LIMIT_BYTES,
  isInlineImage,
  MAX_INPUT_FILES,
  planAttach,
  buildExecuteRequest,
  checkHealth,
  curlCommand,
  defaultEndpoint,
  describe,
  describeError,
  Endpoint,
  errorLine,
  execute,
  ExecOutcome,
  executeBody,
  FetchLike,
  mapExecuteResponse,
  noInput,
  parseInput,
  parseRetryAfter,
  type RunInput,
  shellQuote,
  snippetOf,
  validateBaseUrl,
} from "./api";

const page = "http://localhost:8080/";
const ep = (over: Partial<Endpoint> = {}): Endpoint => ({ ...defaultEndpoint, ...over });

function fail(code: string, extra: Record<string, unknown> = {}) {
  return {
    result: null,
    stdout: "",
    stderr: "",
    stdout_truncated: false,
    stderr_truncated: false,
    duration_ms: 4.5,
    profile: "namespaces",
    error: { code, message: `msg for ${code}`, ...extra },
  };
}

/** A fetch that answers once with the given status, headers and body text, recording the call. */
function answer(status: number, body: string | object, headers: Record<string, string> = {}) {
  const calls: { url: string; init: RequestInit }[] = [];
  const text = typeof body === "string" ? body : JSON.stringify(body);
  const fn: FetchLike = async (url, init) => {
    calls.push({ url, init });
    return new Response(text, {
      status,
      headers: { "Content-Type": typeof body === "string" ? "text/html" : "application/json", ...headers },
    });
  };
  return { fn, calls };
}

async function run(status: number, body: string | object, headers: Record<string, string> = {}) {
  const { fn } = answer(status, body, headers);
  return execute("def main():\n    return 1\n", ep(), { pageUrl: page, fetchFn: fn });
}

suite("apiUrl", () => {
  it("defaults to the page's origin, relative to the page path", () => {
    expect(apiUrl(ep(), "execute", "http://localhost:8080/")).toBe("http://localhost:8080/execute");
    expect(apiUrl(ep(), "healthz", "https://h.example/ide/index.html")).toBe("https://h.example/ide/healthz");
  });
  it("joins a custom base without doubling slashes and drops query/hash", () => {
    expect(apiUrl(ep({ baseUrl: "https://x.a.run.app/" }), "execute", page)).toBe("https://x.a.run.app/execute");
    expect(apiUrl(ep({ baseUrl: " https://x.a.run.app/api// " }), "healthz", page)).toBe("https://x.a.run.app/api/healthz");
    expect(apiUrl(ep({ baseUrl: "http://127.0.0.1:9/?a=1#b" }), "execute", page)).toBe("http://127.0.0.1:9/execute");
  });
  it("rejects non-URLs and other schemes", () => {
    expect(() => apiUrl(ep({ baseUrl: "not a url" }), "execute", page)).toThrow(/not a valid URL/);
    expect(() => apiUrl(ep({ baseUrl: "ftp://x/" }), "execute", page)).toThrow(/http or https/);
    expect(validateBaseUrl("javascript:alert(1)")).toMatch(/http or https/);
    expect(validateBaseUrl("https://ok.example")).toBeNull();
  });
});

suite("request", () => {
  it("POSTs the script as JSON with no auth header by default", () => {
    const r = buildExecuteRequest('print("x")', ep(), page);
    expect(r.url).toBe("http://localhost:8080/execute");
    expect(r.init.method).toBe("POST");
    expect(r.init.headers["Content-Type"]).toBe("application/json");
    expect(r.init.headers.Authorization).toBeUndefined();
    expect(JSON.parse(r.init.body)).toEqual({ script: 'print("x")' });
  });
  it("sends a bearer token or an API key as configured", () => {
    expect(authHeaders(ep({ token: " k1 " }))).toEqual({ Authorization: "Bearer k1" });
    expect(authHeaders(ep({ token: "k2", authMode: "api-key" }))).toEqual({ "X-API-Key": "k2" });
    expect(authHeaders(ep({ token: "  " }))).toEqual({});
  });
  it("passes the abort signal and auth to fetch", async () => {
    const { fn, calls } = answer(200, { result: 1, stdout: "", stderr: "", duration_ms: 1 });
    const ac = new AbortController();
    await execute("s", ep({ baseUrl: "https://x.example", token: "t" }), { pageUrl: page, fetchFn: fn, signal: ac.signal });
    expect(calls).toHaveLength(1);
    expect(calls[0].url).toBe("https://x.example/execute");
    expect(calls[0].init.signal).toBe(ac.signal);
    expect((calls[0].init.headers as Record<string, string>).Authorization).toBe("Bearer t");
  });
});

/** The pane's text as Run would send it; throws on invalid JSON. */
function input(text: string): RunInput {
  const p = parseInput(text);
  if (!p.ok) throw new Error(p.error);
  return p.input;
}

suite("input", () => {
  it("an empty or blank pane is no input; anything else must be one JSON value", () => {
    expect(parseInput("")).toEqual({ ok: true, input: noInput });
    expect(parseInput("  \n\t ")).toEqual({ ok: true, input: noInput });
    expect(parseInput('\n {"a": 1}\n')).toEqual({ ok: true, input: { kind: "json", text: '{"a": 1}' } });
    expect(parseInput("null")).toEqual({ ok: true, input: { kind: "json", text: "null" } });
    expect(parseInput("0")).toEqual({ ok: true, input: { kind: "json", text: "0" } });
    expect(parseInput('""')).toEqual({ ok: true, input: { kind: "json", text: '""' } });
    for (const bad of ["{", "{a: 1}", "[1, 2,]", "'x'", "1 2", "undefined", "NaN", '{"a": 1} x']) {
      const p = parseInput(bad);
      expect(p.ok, bad).toBe(false);
      expect(!p.ok && p.error.length).toBeGreaterThan(0);
    }
  });

  it("without input the body is only the script; with one it carries input, null included", () => {
    expect(JSON.parse(executeBody("s"))).toEqual({ script: "s" });
    expect(JSON.parse(executeBody("s", noInput))).toEqual({ script: "s" });
    expect("input" in JSON.parse(executeBody("s", input("")))).toBe(false);
    const withNull = JSON.parse(executeBody("s", input("null")));
    expect(withNull).toEqual({ script: "s", input: null });
    expect("input" in withNull).toBe(true);
    expect(JSON.parse(executeBody("s", input('{"numbers": [1, 2, 3]}')))).toEqual({ script: "s", input: { numbers: [1, 2, 3] } });
    expect(JSON.parse(executeBody("s", input("false")))).toEqual({ script: "s", input: false });
  });

  it("sends the input's text as typed, so floats and big integers reach Python unchanged", () => {
    const body = executeBody('x = "it\'s"', input('{"x": 1.0, "big": 12345678901234567890}'));
    expect(body).toBe(`{"script":"x = \\"it's\\"","input":{"x": 1.0, "big": 12345678901234567890}}`);
  });

  it("execute() sends input when the pane has one, and omits it when empty", async () => {
    const ok = { result: { total: 6 }, stdout: "", stderr: "", duration_ms: 1 };
    const withInput = answer(200, ok);
    const o = await execute("def main(data):\n    return 1", ep(), { pageUrl: page, fetchFn: withInput.fn, input: input('{"numbers": [1, 2, 3]}') });
    expect(o.kind).toBe("success");
    expect(JSON.parse(withInput.calls[0].init.body as string)).toEqual({ script: "def main(data):\n    return 1", input: { numbers: [1, 2, 3] } });

    const nullInput = answer(200, ok);
    await execute("s", ep(), { pageUrl: page, fetchFn: nullInput.fn, input: input("null") });
    expect(JSON.parse(nullInput.calls[0].init.body as string)).toEqual({ script: "s", input: null });

    for (const opts of [{}, { input: noInput }, { input: input("   ") }]) {
      const none = answer(200, ok);
      await execute("s", ep(), { pageUrl: page, fetchFn: none.fn, ...opts });
      expect(JSON.parse(none.calls[0].init.body as string)).toEqual({ script: "s" });
    }
  });

  it("buildExecuteRequest() takes the input too", () => {
    const r = buildExecuteRequest("s", ep(), page, input("[1]"));
    expect(JSON.parse(r.init.body)).toEqual({ script: "s", input: [1] });
  });
});

suite("response mapping", () => {
  it("200 with a result is a success carrying stdout, flags, duration and profile", async () => {
    const o = await run(200, {
      result: { status: "ok" },
      stdout: "Hello from IDE\n",
      stderr: "",
      stdout_truncated: true,
      stderr_truncated: false,
      duration_ms: 12.3,
      profile: "namespaces",
    });
    expect(o.kind).toBe("success");
    if (o.kind !== "success") return;
    expect(o.body.result).toEqual({ status: "ok" });
    expect(o.body.stdout).toBe("Hello from IDE\n");
    expect(o.body.stdout_truncated).toBe(true);
    expect(o.body.duration_ms).toBe(12.3);
    expect(o.body.profile).toBe("namespaces");
    expect(describe(o).tone).toBe("ok");
  });

  it("200 with result null (main returned None) is still a success", async () => {
    const o = await run(200, { result: null, stdout: "", stderr: "", duration_ms: 1 });
    expect(o.kind).toBe("success");
  });

  const cases: [number, string, RegExp][] = [
    [400, "invalid_request", /Invalid request/],
    [400, "syntax_error", /Syntax error on line 3/],
    [400, "missing_main", /No main\(\)/],
    [401, "unauthorized", /Unauthorized/],
    [405, "method_not_allowed", /method_not_allowed/],
    [413, "script_too_large", /Script too large/],
    [415, "unsupported_media_type", /unsupported_media_type/],
    [422, "runtime_error", /ZeroDivisionError on line 3/],
    [422, "result_not_json", /not JSON/],
    [422, "result_too_large", /Result too large/],
    [422, "timeout", /Time limit/],
    [422, "memory_limit", /Memory limit/],
    [422, "killed", /killed/],
    [500, "internal", /Server error/],
    [503, "unavailable", /unavailable/],
    [418, "brand_new_code", /brand_new_code \(HTTP 418\)/],
  ];
  for (const [status, code, title] of cases) {
    it(`${status} ${code} is a failure with its own title`, async () => {
      const extra = code === "runtime_error" || code === "syntax_error"
        ? { line: 3, column: 5, type: code === "runtime_error" ? "ZeroDivisionError" : "SyntaxError", traceback: "Traceback...\n" }
        : {};
      const o = await run(status, fail(code, extra));
      expect(o.kind).toBe("failure");
      if (o.kind !== "failure") return;
      expect(o.status).toBe(status);
      expect(o.error.code).toBe(code);
      expect(o.error.message).toBe(`msg for ${code}`);
      const d = describe(o);
      expect(d.title).toMatch(title);
      expect(d.detail).not.toBe("");
      if (extra.line) {
        expect(errorLine(o)).toBe(3);
        expect(o.error.traceback).toBe("Traceback...\n");
        expect(o.error.column).toBe(5);
      } else {
        expect(errorLine(o)).toBeNull();
      }
    });
  }

  it("413 input_too_large is a failure with its own title", async () => {
    const o = await run(413, fail("input_too_large"));
    expect(o.kind === "failure" && describe(o).title).toBe("Input too large");
    expect(describeError({ code: "input_too_large", message: "" }, 413).detail).toMatch(/input/);
  });

  it("reads usage on a success and on a failure", async () => {
    const usage = { wall_ms: 9.8, cpu_ms: 6.1, max_rss_mb: 83.2 };
    const s = await run(200, { result: 1, stdout: "", stderr: "", duration_ms: 1, usage });
    expect(s.kind === "success" && s.body.usage).toEqual(usage);
    const f = await run(422, { ...fail("runtime_error"), usage });
    expect(f.kind === "failure" && f.body.usage).toEqual(usage);
    // An older server, or a malformed usage, gives none rather than NaNs.
    const old = await run(200, { result: 1, stdout: "", stderr: "", duration_ms: 1 });
    expect(old.kind === "success" && old.body.usage).toBeUndefined();
    const bad = await run(200, { result: 1, stdout: "", stderr: "", duration_ms: 1, usage: { wall_ms: 1, cpu_ms: "2", max_rss_mb: 3 } });
    expect(bad.kind === "success" && bad.body.usage).toBeUndefined();
  });

  it("reads error.limit, the limit that ended the job", async () => {
    const o = await run(422, fail("timeout", { limit: { name: "timeout_ms", value: 1000 } }));
    expect(o.kind === "failure" && o.error.limit).toEqual({ name: "timeout_ms", value: 1000 });
    const m = await run(422, fail("memory_limit", { limit: { name: "memory_mb", value: 256 } }));
    expect(m.kind === "failure" && m.error.limit).toEqual({ name: "memory_mb", value: 256 });
    const none = await run(422, fail("runtime_error"));
    expect(none.kind === "failure" && none.error.limit).toBeUndefined();
    for (const limit of [null, "timeout_ms", { name: "timeout_ms" }, { name: "", value: 1 }, { name: "x", value: "1" }]) {
      const b = await run(422, fail("timeout", { limit }));
      expect(b.kind === "failure" && b.error.limit, JSON.stringify(limit)).toBeUndefined();
    }
  });

  it("an error object wins even on a 2xx status", () => {
    const o = mapExecuteResponse(200, new Headers(), JSON.stringify(fail("timeout")));
    expect(o.kind).toBe("failure");
  });

  it("keeps stdout/stderr of a failed run", async () => {
    const body = { ...fail("runtime_error"), stdout: "before\n", stderr: "warn\n", stderr_truncated: true };
    const o = await run(422, body);
    if (o.kind !== "failure") throw new Error(o.kind);
    expect(o.body.stdout).toBe("before\n");
    expect(o.body.stderr_truncated).toBe(true);
  });

  it("ignores a nonsense line number", async () => {
    const o = await run(400, fail("syntax_error", { line: 0 }));
    expect(errorLine(o)).toBeNull();
    const o2 = await run(400, fail("syntax_error", { line: "3" }));
    expect(errorLine(o2)).toBeNull();
  });

  it("429 overloaded carries the Retry-After hint", async () => {
    const o = await run(429, fail("overloaded"), { "Retry-After": "7" });
    expect(o.kind).toBe("failure");
    if (o.kind !== "failure") return;
    expect(o.retryAfterSec).toBe(7);
    const d = describe(o);
    expect(d.title).toBe("Server busy");
    expect(d.detail).toMatch(/Retry in 7 s/);
  });

  it("429 without Retry-After still says to retry", async () => {
    const o = await run(429, fail("overloaded"));
    if (o.kind !== "failure") throw new Error(o.kind);
    expect(o.retryAfterSec).toBeUndefined();
    expect(describe(o).detail).toMatch(/Retry shortly/);
  });

  it("an HTML 502 from a proxy is a bad_response with a readable excerpt", async () => {
    const html = "<html><head><title>502 Bad Gateway</title><style>p{}</style></head><body><h1>Bad   Gateway</h1><script>x()</script></body></html>";
    const o = await run(502, html);
    expect(o.kind).toBe("bad_response");
    if (o.kind !== "bad_response") return;
    expect(o.status).toBe(502);
    expect(o.contentType).toBe("text/html");
    expect(o.snippet).toBe("502 Bad Gateway — 502 Bad Gateway Bad Gateway");
    const d = describe(o);
    expect(d.title).toBe("Unexpected answer (HTTP 502)");
    expect(d.detail).toMatch(/proxy or load balancer/);
  });

  it("an empty body, a JSON array, and JSON without result or error are bad_response", async () => {
    const e = await run(200, "");
    expect(e.kind === "bad_response" && e.reason).toBe("empty body");
    const a = await run(200, [1, 2]);
    expect(a.kind === "bad_response" && a.reason).toBe("JSON is not an object");
    const n = await run(200, { hello: 1 });
    expect(n.kind === "bad_response" && n.reason).toBe("JSON lacks the result field");
    const x = await run(500, { detail: "boom" });
    expect(x.kind === "bad_response" && x.reason).toBe("error answer without an error object");
  });

  it("a network failure is reported with the URL", async () => {
    const fn: FetchLike = async () => {
      throw new TypeError("Failed to fetch");
    };
    const o = await execute("s", ep({ baseUrl: "http://127.0.0.1:1" }), { pageUrl: page, fetchFn: fn });
    expect(o).toEqual({ kind: "network", url: "http://127.0.0.1:1/execute", message: "Failed to fetch" });
    expect(describe(o).title).toBe("Endpoint unreachable");
  });

  it("an invalid endpoint is reported, not thrown", async () => {
    const o = await execute("s", ep({ baseUrl: "nope" }), { pageUrl: page, fetchFn: answer(200, {}).fn });
    expect(o.kind).toBe("network");
    expect(describe(o).detail).toMatch(/not a valid URL/);
  });

  it("abort gives aborted, with a real fetch against a server that never answers", async () => {
    const { createServer } = await import("node:http");
    const server = createServer(() => {
      /* never answers */
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as { port: number }).port;
    try {
      const ac = new AbortController();
      const p = execute("s", ep({ baseUrl: `http://127.0.0.1:${port}` }), { pageUrl: page, signal: ac.signal });
      setTimeout(() => ac.abort(), 50);
      const o = await p;
      expect(o).toEqual({ kind: "aborted" });
      expect(describe(o).title).toBe("Cancelled");
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it("a real connection refused is a network outcome", async () => {
    const { createServer } = await import("node:net");
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
    const port = (s.address() as { port: number }).port;
    await new Promise((r) => s.close(r));
    const o = await execute("s", ep({ baseUrl: `http://127.0.0.1:${port}` }), { pageUrl: page });
    expect(o.kind).toBe("network");
  });
});

suite("parseRetryAfter", () => {
  it("reads seconds and HTTP dates", () => {
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter("3")).toBe(3);
    expect(parseRetryAfter("soon")).toBeUndefined();
    const now = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT");
    expect(parseRetryAfter("Wed, 21 Oct 2015 07:28:10 GMT", now)).toBe(10);
    expect(parseRetryAfter("Wed, 21 Oct 2015 07:27:00 GMT", now)).toBe(0);
  });
});

suite("describe covers every outcome", () => {
  it("never returns an empty title or detail", () => {
    const outcomes: ExecOutcome[] = [
      { kind: "aborted" },
      { kind: "network", url: "", message: "x" },
      { kind: "bad_response", status: 200, contentType: "", snippet: "", reason: "empty body" },
      { kind: "bad_response", status: 401, contentType: "text/plain", snippet: "no", reason: "body is not JSON" },
    ];
    for (const o of outcomes) {
      const d = describe(o);
      expect(d.title.length).toBeGreaterThan(0);
      expect(d.detail.length).toBeGreaterThan(0);
    }
    expect(describe(outcomes[3]).detail).toMatch(/token or API key/);
    // An error object with no message still gets words.
    for (const code of ["syntax_error", "runtime_error", "timeout", "memory_limit", "killed", "internal", "zzz"]) {
      expect(describeError({ code, message: "" }, 422).detail.length).toBeGreaterThan(0);
    }
  });
});

suite("checkHealth", () => {
  const healthy = { ok: true, mode: "auto", profile: "namespaces", layers: ["user_ns"], weaker: [], version: "v1" };
  it("up on 200 ok=true, with the profile", async () => {
    const { fn, calls } = answer(200, healthy);
    const h = await checkHealth(ep({ token: "k", authMode: "api-key" }), { pageUrl: page, fetchFn: fn });
    expect(h.kind).toBe("up");
    expect(h.kind === "up" && h.health.profile).toBe("namespaces");
    expect(calls[0].url).toBe("http://localhost:8080/healthz");
    expect((calls[0].init.headers as Record<string, string>)["X-API-Key"]).toBe("k");
  });
  it("down on 503 ok=false", async () => {
    const h = await checkHealth(ep(), { pageUrl: page, fetchFn: answer(503, { ...healthy, ok: false }).fn });
    expect(h.kind).toBe("down");
    expect(h.kind === "down" && h.status).toBe(503);
  });
  it("down on a non-JSON or unexpected answer", async () => {
    const h = await checkHealth(ep(), { pageUrl: page, fetchFn: answer(200, "<html>hi</html>").fn });
    expect(h.kind === "down" && h.message).toMatch(/not the API's JSON/);
    const h2 = await checkHealth(ep(), { pageUrl: page, fetchFn: answer(200, { status: "fine" }).fn });
    expect(h2.kind === "down" && h2.message).toMatch(/unexpected/);
  });
  it("unreachable on network error, bad URL, or timeout", async () => {
    const boom: FetchLike = async () => {
      throw new TypeError("Failed to fetch");
    };
    const h = await checkHealth(ep({ baseUrl: "http://127.0.0.1:1" }), { pageUrl: page, fetchFn: boom });
    expect(h).toEqual({ kind: "unreachable", url: "http://127.0.0.1:1/healthz", message: "Failed to fetch" });
    const bad = await checkHealth(ep({ baseUrl: "::" }), { pageUrl: page, fetchFn: boom });
    expect(bad.kind).toBe("unreachable");
    const hang: FetchLike = (_u, init) =>
      new Promise((_r, rej) => init.signal?.addEventListener("abort", () => rej(new DOMException("aborted", "AbortError"))));
    const t = await checkHealth(ep(), { pageUrl: page, fetchFn: hang, timeoutMs: 30 });
    expect(t.kind === "unreachable" && t.message).toBe("no answer within 0.03 s");
  });
});

suite("curl", () => {
  it("quotes for the shell", () => {
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });
  it("builds a command with the real URL and body, never the secret", () => {
    const script = 'def main():\n    print("it\'s")\n    return {"status": "ok"}';
    const cmd = curlCommand(script, ep({ baseUrl: "https://x.example", token: "s3cret" }), page);
    expect(cmd).toContain("curl -sS -X POST 'https://x.example/execute'");
    expect(cmd).toContain(`-H "Authorization: Bearer $PYTHON_API_TOKEN"`);
    expect(cmd).not.toContain("s3cret");
    const body = /--data-binary '(.*)'$/s.exec(cmd)![1].replace(/'\\''/g, "'");
    expect(JSON.parse(body)).toEqual({ script });
    const k = curlCommand("x", ep({ token: "k", authMode: "api-key" }), page);
    expect(k).toContain(`-H "X-API-Key: $PYTHON_API_TOKEN"`);
    expect(curlCommand("x", ep(), page)).not.toContain("PYTHON_API_TOKEN");
  });
  it("includes the input when there is one (null too), and only then", () => {
    const bodyOf = (cmd: string) => JSON.parse(/--data-binary '(.*)'$/s.exec(cmd)![1].replace(/'\\''/g, "'"));
    const script = 'def main(data):\n    return {"total": sum(data["numbers"])}';
    const withInput = curlCommand(script, ep(), page, input(`{"numbers": [1, 2, 3], "note": "it's"}`));
    expect(bodyOf(withInput)).toEqual({ script, input: { numbers: [1, 2, 3], note: "it's" } });
    expect(bodyOf(curlCommand(script, ep(), page, input("null")))).toEqual({ script, input: null });
    expect(bodyOf(curlCommand(script, ep(), page, input("")))).toEqual({ script });
    expect(bodyOf(curlCommand(script, ep(), page))).toEqual({ script });
    expect(curlCommand(script, ep(), page)).not.toContain('"input"');
  });
});

suite("snippetOf", () => {
  it("collapses whitespace and truncates", () => {
    expect(snippetOf("a\n\n b")).toBe("a b");
    expect(snippetOf("x".repeat(300), 10)).toBe("xxxxxxxxxx…");
  });
});

suite("files in the request", () => {
  const csv = { name: "data.csv", content: bytesToBase64(new TextEncoder().encode("a,b\n1,2\n3,4\n")) };
  const png = { name: "img/dot.png", content: "iVBORw0KGgo=" };

  it("base64 round-trips bytes, large ones too", () => {
    expect(bytesToBase64(new TextEncoder().encode("a,b\n1,2\n"))).toBe("YSxiCjEsMgo=");
    const big = new Uint8Array(200_000).map((_, i) => (i * 7) % 256);
    expect(Array.from(base64ToBytes(bytesToBase64(big)))).toEqual(Array.from(big));
    expect(bytesToBase64(new Uint8Array())).toBe("");
  });

  it("executeBody adds files only when there are some, after the input", () => {
    expect("files" in JSON.parse(executeBody("s", noInput, []))).toBe(false);
    expect(JSON.parse(executeBody("s", noInput, [csv]))).toEqual({ script: "s", files: [csv] });
    expect(JSON.parse(executeBody("s", input('{"n": 1.0}'), [csv, png]))).toEqual({ script: "s", input: { n: 1 }, files: [csv, png] });
    // The input is still spliced in as typed.
    expect(executeBody("s", input("1.0"), [csv])).toBe(`{"script":"s","input":1.0,"files":[{"name":"data.csv","content":"${csv.content}"}]}`);
  });

  it("sends only name and content, not the size the IDE keeps", () => {
    const body = JSON.parse(executeBody("s", noInput, [{ ...csv, size: 12 } as typeof csv]));
    expect(body.files).toEqual([csv]);
  });

  it("execute() and buildExecuteRequest() send the files", async () => {
    const ok = answer(200, { result: 2, stdout: "", stderr: "", duration_ms: 1 });
    await execute("s", ep(), { pageUrl: page, fetchFn: ok.fn, files: [csv] });
    expect(JSON.parse(ok.calls[0].init.body as string)).toEqual({ script: "s", files: [csv] });
    const none = answer(200, { result: 2, stdout: "", stderr: "", duration_ms: 1 });
    await execute("s", ep(), { pageUrl: page, fetchFn: none.fn, files: [] });
    expect(JSON.parse(none.calls[0].init.body as string)).toEqual({ script: "s" });
    expect(JSON.parse(buildExecuteRequest("s", ep(), page, noInput, [png]).init.body)).toEqual({ script: "s", files: [png] });
  });

  it("curl carries the files (and the input) in its body", () => {
    const bodyOf = (cmd: string) => JSON.parse(/--data-binary '(.*)'$/s.exec(cmd)![1].replace(/'\\''/g, "'"));
    const odd = { name: "it's.csv", content: csv.content };
    const cmd = curlCommand("s", ep(), page, input("[1]"), [csv, odd]);
    expect(bodyOf(cmd)).toEqual({ script: "s", input: [1], files: [csv, odd] });
    expect(curlCommand("s", ep(), page, noInput, [])).not.toContain('"files"');
  });

  it("planAttach replaces same-named files and refuses past the count or size limit", () => {
    const f = (name: string, size: number) => ({ name, size });
    const ok = planAttach([f("a", 1), f("b", 2)], [f("a", 5), f("c", 3)]);
    expect(ok).toEqual({ ok: true, files: [f("b", 2), f("a", 5), f("c", 3)] });
    const many = Array.from({ length: MAX_INPUT_FILES }, (_, i) => f(`f${i}`, 1));
    expect(planAttach([], many).ok).toBe(true);
    const tooMany = planAttach(many, [f("one-more", 1)]);
    expect(tooMany.ok).toBe(false);
    expect(!tooMany.ok && tooMany.error).toMatch(/101 files; the limit is 100/);
    // Replacing an attached file does not count twice.
    expect(planAttach(many, [f("f0", 2)]).ok).toBe(true);
    expect(planAttach([], [f("big", INPUT_FILES_LIMIT_BYTES)]).ok).toBe(true);
    const tooBig = planAttach([f("x", 1)], [f("big", INPUT_FILES_LIMIT_BYTES)]);
    expect(tooBig.ok).toBe(false);
    expect(!tooBig.ok && tooBig.error).toMatch(/"big" would make 16\.0 MiB in all; the limit is 16 MiB/);
    expect(planAttach([f("big", INPUT_FILES_LIMIT_BYTES)], [f("big", 10)]).ok).toBe(true);
  });
});

suite("files in the answer", () => {
  const ok = (extra: Record<string, unknown>) => ({ result: 1, stdout: "", stderr: "", duration_ms: 1, ...extra });

  it("reads files, files_skipped and files_truncated from a success", async () => {
    const files = [
      { name: "summary.csv", size: 120, content_type: "text/csv", content: "LGEsYgo=" },
      { name: "plots/sine.png", size: 3, content_type: "image/png", content: "iVBO" },
    ];
    const skipped = [{ name: "link", reason: "symbolic link: not followed" }];
    const o = await run(200, ok({ files, files_skipped: skipped, files_truncated: true }));
    if (o.kind !== "success") throw new Error(o.kind);
    expect(o.body.files).toEqual(files);
    expect(o.body.files_skipped).toEqual(skipped);
    expect(o.body.files_truncated).toBe(true);
  });

  it("an answer without them has none; a failure keeps them", async () => {
    const o = await run(200, ok({}));
    if (o.kind !== "success") throw new Error(o.kind);
    expect(o.body.files).toEqual([]);
    expect(o.body.files_skipped).toEqual([]);
    expect(o.body.files_truncated).toBe(false);
    const f = await run(422, { ...fail("runtime_error"), files: [{ name: "partial.txt", size: 2, content_type: "text/plain", content: "aGk=" }] });
    if (f.kind !== "failure") throw new Error(f.kind);
    expect(f.body.files.map((x) => x.name)).toEqual(["partial.txt"]);
  });

  it("drops malformed entries and fills gaps rather than throwing", async () => {
    const o = await run(
      200,
      ok({
        files: [null, "x", { size: 1 }, { name: "" }, { name: "n.bin", size: "3" }, { name: "s.json", size: 4, object: "gs://b/r/files/s.json" }],
        files_skipped: [{ name: "p" }, 7, { reason: "no name" }],
        files_truncated: "yes",
      }),
    );
    if (o.kind !== "success") throw new Error(o.kind);
    expect(o.body.files).toHaveLength(2);
    expect(o.body.files[0].name).toBe("n.bin");
    expect(o.body.files[0].size).toBeNaN();
    expect(o.body.files[0].content_type).toBe("application/octet-stream");
    expect(o.body.files[0].content).toBeUndefined();
    expect(o.body.files[1]).toEqual({ name: "s.json", size: 4, content_type: "application/octet-stream", object: "gs://b/r/files/s.json" });
    expect(o.body.files_skipped).toEqual([{ name: "p", reason: "" }]);
    expect(o.body.files_truncated).toBe(false);
    const notList = await run(200, ok({ files: { name: "a" }, files_skipped: "x" }));
    expect(notList.kind === "success" && notList.body.files).toEqual([]);
  });

  it("only PNG, JPEG and SVG with content are inline images, as data: URLs", () => {
    const file = (content_type: string, content?: string) => ({ name: "f", size: 1, content_type, content });
    expect(isInlineImage(file("image/png", "AA=="))).toBe(true);
    expect(isInlineImage(file("image/jpeg", "AA=="))).toBe(true);
    expect(isInlineImage(file("image/svg+xml; charset=utf-8", "AA=="))).toBe(true);
    expect(isInlineImage(file("image/png"))).toBe(false);
    expect(isInlineImage(file("image/gif", "AA=="))).toBe(false);
    expect(isInlineImage(file("text/html", "AA=="))).toBe(false);
    expect(dataUrl(file("image/svg+xml; charset=utf-8", "PHN2Zz4="))).toBe("data:image/svg+xml;base64,PHN2Zz4=");
    expect(dataUrl(file("", "AA=="))).toBe("data:application/octet-stream;base64,AA==");
  });
});
