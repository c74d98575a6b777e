// Request/response logic for the python-api HTTP contract. Pure apart from
// the injected fetch, so every mapping is unit-tested without a browser.

export interface ExecError {
  code: string;
  message: string;
  type?: string;
  traceback?: string;
  line?: number;
  column?: number;
  /** The limit that ended the job, e.g. {name: "timeout_ms", value: 1000}. */
  limit?: LimitHit;
}

export interface LimitHit {
  /** timeout_ms, cpu_time_ms, memory_mb, result_bytes or file_size_mb (kept as sent if new). */
  name: string;
  value: number;
}

/** What the job itself used; on every answer from a current server. */
export interface Usage {
  wall_ms: number;
  cpu_ms: number;
  max_rss_mb: number;
}

/** A file attached in the IDE, sent in the request's `files`: written into the script's working directory. */
export interface InputFile {
  /** Relative path, e.g. "data.csv". */
  name: string;
  /** base64 of the bytes. */
  content: string;
}

/** An attached file as the IDE holds it: what is sent, and its size in bytes. */
export interface AttachedFile extends InputFile {
  size: number;
}

/** A regular file the script left under outputs/ (name relative to outputs/). */
export interface OutputFile {
  name: string;
  size: number;
  content_type: string;
  /** base64 of the bytes (HTTP answers); absent when stored elsewhere (batch `object`). */
  content?: string;
  object?: string;
}

/** An entry of outputs/ that did not come back, and why. */
export interface SkippedFile {
  name: string;
  reason: string;
}

/** The server's default limits on a request's files (MAX_INPUT_FILES, INPUT_FILES_LIMIT_BYTES). */
export const MAX_INPUT_FILES = 100;
export const INPUT_FILES_LIMIT_BYTES = 16 * 1024 * 1024;

export interface ExecBody {
  result: unknown;
  stdout: string;
  stderr: string;
  stdout_truncated: boolean;
  stderr_truncated: boolean;
  duration_ms: number;
  profile?: string;
  usage?: Usage;
  error?: ExecError;
  /** Output files ([] when the answer has none). */
  files: OutputFile[];
  files_skipped: SkippedFile[];
  /** A count or size limit stopped the collection of output files. */
  files_truncated: boolean;
}

export interface Health {
  ok: boolean;
  mode?: string;
  profile?: string;
  layers?: string[];
  /** Jobs have a working directory, so requests may carry files. */
  files?: boolean;
  weaker?: string[];
  pool?: Record<string, number>;
  version?: string;
}

export type AuthMode = "bearer" | "api-key";

export interface Endpoint {
  /** Empty means the origin that served the page. */
  baseUrl: string;
  token: string;
  authMode: AuthMode;
}

export const defaultEndpoint: Endpoint = { baseUrl: "", token: "", authMode: "bearer" };

/** What one POST /execute came to, as the UI needs to show it. */
export type ExecOutcome =
  | { kind: "success"; status: number; body: ExecBody }
  /** The server answered in the contract's shape with an error object. */
  | { kind: "failure"; status: number; body: ExecBody; error: ExecError; retryAfterSec?: number }
  /** The server answered, but not with the contract's JSON (proxy page, wrong URL...). */
  | { kind: "bad_response"; status: number; contentType: string; snippet: string; reason: string }
  | { kind: "network"; url: string; message: string }
  | { kind: "aborted" };

export type HealthOutcome =
  | { kind: "up"; status: number; health: Health }
  | { kind: "down"; status: number; health?: Health; message: string }
  | { kind: "unreachable"; url: string; message: string };

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export class EndpointError extends Error {}

/**
 * Resolves the API URL for path ("execute" or "healthz"). An empty base means
 * relative to the page, so the IDE keeps working behind a path prefix.
 */
export function apiUrl(endpoint: Endpoint, path: string, pageUrl: string): string {
  const base = endpoint.baseUrl.trim();
  if (base === "") return new URL(path, pageUrl).toString();
  let u: URL;
  try {
    u = new URL(base);
  } catch {
    throw new EndpointError(`"${base}" is not a valid URL (expected e.g. https://python-api-xyz.a.run.app)`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new EndpointError(`endpoint must use http or https, not ${u.protocol}`);
  }
  u.search = "";
  u.hash = "";
  u.pathname = u.pathname.replace(/\/+$/, "") + "/" + path;
  return u.toString();
}

/** Checks an endpoint URL as typed in the settings; returns a message or null. */
export function validateBaseUrl(base: string): string | null {
  try {
    apiUrl({ ...defaultEndpoint, baseUrl: base }, "healthz", "http://localhost/");
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

export function authHeaders(endpoint: Endpoint): Record<string, string> {
  const token = endpoint.token.trim();
  if (token === "") return {};
  return endpoint.authMode === "api-key" ? { "X-API-Key": token } : { Authorization: `Bearer ${token}` };
}

export interface BuiltRequest {
  url: string;
  init: RequestInit & { headers: Record<string, string>; body: string };
}

/**
 * What the Input (JSON) pane holds. "none": the pane is empty, the request
 * has no input and main() is called bare. "json": a JSON value (the literal
 * null included) for main(input); `text` is the pane's text, trimmed and
 * known to parse.
 */
export type RunInput = { kind: "none" } | { kind: "json"; text: string };

export const noInput: RunInput = { kind: "none" };

export type ParsedInput = { ok: true; input: RunInput } | { ok: false; error: string };

/**
 * Reads the Input pane: empty (or only whitespace) is no input, anything else
 * must be one JSON value. The text itself is what gets sent, not a
 * re-serialisation, so 1.0 stays a float and 12345678901234567890 keeps its
 * digits on the Python side.
 */
export function parseInput(text: string): ParsedInput {
  const t = text.trim();
  if (t === "") return { ok: true, input: noInput };
  try {
    JSON.parse(t);
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
  return { ok: true, input: { kind: "json", text: t } };
}

/**
 * The JSON body of POST /execute: {"script": …} plus "input" when there is
 * one and "files" when any are attached.
 */
export function executeBody(script: string, input: RunInput = noInput, files: readonly InputFile[] = []): string {
  let body = `{"script":${JSON.stringify(script)}`;
  // The input text parsed as one JSON value, so splicing it in keeps the body JSON.
  if (input.kind === "json") body += `,"input":${input.text}`;
  if (files.length > 0) body += `,"files":${JSON.stringify(files.map((f) => ({ name: f.name, content: f.content })))}`;
  return body + "}";
}

export function buildExecuteRequest(
  script: string,
  endpoint: Endpoint,
  pageUrl: string,
  input: RunInput = noInput,
  files: readonly InputFile[] = [],
): BuiltRequest {
  return {
    url: apiUrl(endpoint, "execute", pageUrl),
    init: {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json", ...authHeaders(endpoint) },
      body: executeBody(script, input, files),
    },
  };
}

/** base64 of bytes (chunked, so a 16 MiB file does not overflow the call stack). */
export function bytesToBase64(bytes: Uint8Array): string {
  let bin = "";
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    bin += String.fromCharCode(...bytes.subarray(i, i + chunk));
  }
  return btoa(bin);
}

/** The bytes of base64 text; throws on text that is not base64. */
export function base64ToBytes(b64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** What an attachment needs for the limits: its name and size in bytes. */
export interface Sized {
  name: string;
  size: number;
}

/**
 * Attaching `incoming` to `existing`: a file with a name already attached
 * replaces it (the server refuses duplicate names), the last of equal names
 * in `incoming` wins. Refuses the whole addition, with a message, when the
 * result would exceed MAX_INPUT_FILES files or INPUT_FILES_LIMIT_BYTES in all.
 */
export function planAttach<T extends Sized>(
  existing: readonly T[],
  incoming: readonly T[],
  limits: { maxFiles: number; maxBytes: number } = { maxFiles: MAX_INPUT_FILES, maxBytes: INPUT_FILES_LIMIT_BYTES },
): { ok: true; files: T[] } | { ok: false; error: string } {
  const byName = new Map<string, T>();
  for (const f of existing) byName.set(f.name, f);
  for (const f of incoming) {
    byName.delete(f.name); // a replaced file moves to the end, where the new ones are
    byName.set(f.name, f);
  }
  const files = [...byName.values()];
  const what = incoming.length === 1 ? `"${incoming[0].name}"` : `${incoming.length} files`;
  if (files.length > limits.maxFiles) {
    return { ok: false, error: `Not attached: ${what} would make ${files.length} files; the limit is ${limits.maxFiles}.` };
  }
  const total = files.reduce((n, f) => n + f.size, 0);
  if (total > limits.maxBytes) {
    return {
      ok: false,
      error: `Not attached: ${what} would make ${mib(total)} in all; the limit is ${mib(limits.maxBytes)}.`,
    };
  }
  return { ok: true, files };
}

function mib(n: number): string {
  const v = n / 1024 / 1024;
  return `${Number.isInteger(v) ? v : v.toFixed(1)} MiB`;
}

/** Output files shown inline as images (SVG only ever through <img>, never as markup). */
export const INLINE_IMAGE_TYPES = ["image/png", "image/jpeg", "image/svg+xml"];

/** The file's media type without parameters, lower-cased: "text/csv; charset=utf-8" → "text/csv". */
export function mediaType(contentType: string): string {
  return contentType.split(";")[0].trim().toLowerCase();
}

export function isInlineImage(f: OutputFile): boolean {
  return f.content !== undefined && INLINE_IMAGE_TYPES.includes(mediaType(f.content_type));
}

/** A data: URL for an output file that has content. */
export function dataUrl(f: OutputFile): string {
  return `data:${mediaType(f.content_type) || "application/octet-stream"};base64,${f.content ?? ""}`;
}

function isAbort(err: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted) return true;
  return typeof err === "object" && err !== null && (err as { name?: string }).name === "AbortError";
}

/** Parses Retry-After (seconds or HTTP date) into whole seconds, if present. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const date = Date.parse(v);
  if (!Number.isNaN(date)) return Math.max(0, Math.ceil((date - now) / 1000));
  return undefined;
}

/** A short, tag-free excerpt of a body that was not the API's JSON. */
export function snippetOf(text: string, max = 240): string {
  const titled = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(text);
  const plain = (titled ? titled[1] + " — " : "") + text.replace(/<script[\s\S]*?<\/script>|<style[\s\S]*?<\/style>/gi, " ")
    .replace(/<[^>]+>/g, " ");
  const collapsed = plain.replace(/\s+/g, " ").trim();
  return collapsed.length > max ? collapsed.slice(0, max) + "…" : collapsed;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function asExecError(v: unknown): ExecError | undefined {
  if (!isObject(v) || typeof v.code !== "string") return undefined;
  const e: ExecError = { code: v.code, message: typeof v.message === "string" ? v.message : "" };
  if (typeof v.type === "string") e.type = v.type;
  if (typeof v.traceback === "string") e.traceback = v.traceback;
  if (typeof v.line === "number" && Number.isInteger(v.line) && v.line > 0) e.line = v.line;
  if (typeof v.column === "number" && Number.isInteger(v.column) && v.column > 0) e.column = v.column;
  if (isObject(v.limit) && typeof v.limit.name === "string" && v.limit.name !== "" && isFiniteNumber(v.limit.value)) {
    e.limit = { name: v.limit.name, value: v.limit.value };
  }
  return e;
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

function asUsage(v: unknown): Usage | undefined {
  if (!isObject(v) || !isFiniteNumber(v.wall_ms) || !isFiniteNumber(v.cpu_ms) || !isFiniteNumber(v.max_rss_mb)) return undefined;
  return { wall_ms: v.wall_ms, cpu_ms: v.cpu_ms, max_rss_mb: v.max_rss_mb };
}

function asOutputFiles(v: unknown): OutputFile[] {
  if (!Array.isArray(v)) return [];
  const out: OutputFile[] = [];
  for (const f of v) {
    if (!isObject(f) || typeof f.name !== "string" || f.name === "") continue;
    const file: OutputFile = {
      name: f.name,
      size: isFiniteNumber(f.size) && f.size >= 0 ? f.size : NaN,
      content_type: typeof f.content_type === "string" && f.content_type !== "" ? f.content_type : "application/octet-stream",
    };
    if (typeof f.content === "string") file.content = f.content;
    if (typeof f.object === "string") file.object = f.object;
    out.push(file);
  }
  return out;
}

function asSkippedFiles(v: unknown): SkippedFile[] {
  if (!Array.isArray(v)) return [];
  return v
    .filter((f): f is Record<string, unknown> => isObject(f) && typeof f.name === "string")
    .map((f) => ({ name: f.name as string, reason: typeof f.reason === "string" ? f.reason : "" }));
}

function asExecBody(v: Record<string, unknown>): ExecBody {
  return {
    result: "result" in v ? v.result : null,
    stdout: typeof v.stdout === "string" ? v.stdout : "",
    stderr: typeof v.stderr === "string" ? v.stderr : "",
    stdout_truncated: v.stdout_truncated === true,
    stderr_truncated: v.stderr_truncated === true,
    duration_ms: typeof v.duration_ms === "number" ? v.duration_ms : NaN,
    profile: typeof v.profile === "string" ? v.profile : undefined,
    usage: asUsage(v.usage),
    error: asExecError(v.error),
    files: asOutputFiles(v.files),
    files_skipped: asSkippedFiles(v.files_skipped),
    files_truncated: v.files_truncated === true,
  };
}

/** Maps a received HTTP answer (status, headers, raw text) to an outcome. */
export function mapExecuteResponse(status: number, headers: Headers, text: string): ExecOutcome {
  const contentType = headers.get("Content-Type") ?? "";
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return {
      kind: "bad_response",
      status,
      contentType,
      snippet: snippetOf(text),
      reason: text.trim() === "" ? "empty body" : "body is not JSON",
    };
  }
  if (!isObject(parsed)) {
    return { kind: "bad_response", status, contentType, snippet: snippetOf(text), reason: "JSON is not an object" };
  }
  const body = asExecBody(parsed);
  if (body.error) {
    const out: ExecOutcome = { kind: "failure", status, body, error: body.error };
    const ra = parseRetryAfter(headers.get("Retry-After"));
    if (ra !== undefined) out.retryAfterSec = ra;
    return out;
  }
  if (status >= 200 && status < 300 && "result" in parsed) {
    return { kind: "success", status, body };
  }
  return {
    kind: "bad_response",
    status,
    contentType,
    snippet: snippetOf(text),
    reason: status >= 200 && status < 300 ? "JSON lacks the result field" : "error answer without an error object",
  };
}

/**
 * Sends one POST /execute; `opts.input` (default: none) is the Input pane's
 * value, `opts.files` (default: none) the attached files.
 */
export async function execute(
  script: string,
  endpoint: Endpoint,
  opts: { pageUrl: string; input?: RunInput; files?: readonly InputFile[]; signal?: AbortSignal; fetchFn?: FetchLike },
): Promise<ExecOutcome> {
  let req: BuiltRequest;
  try {
    req = buildExecuteRequest(script, endpoint, opts.pageUrl, opts.input, opts.files);
  } catch (e) {
    return { kind: "network", url: endpoint.baseUrl, message: (e as Error).message };
  }
  const fetchFn = opts.fetchFn ?? ((i, init) => fetch(i, init));
  try {
    const resp = await fetchFn(req.url, { ...req.init, signal: opts.signal });
    const text = await resp.text();
    return mapExecuteResponse(resp.status, resp.headers, text);
  } catch (err) {
    if (isAbort(err, opts.signal)) return { kind: "aborted" };
    return { kind: "network", url: req.url, message: err instanceof Error ? err.message : String(err) };
  }
}

export async function checkHealth(
  endpoint: Endpoint,
  opts: { pageUrl: string; signal?: AbortSignal; timeoutMs?: number; fetchFn?: FetchLike },
): Promise<HealthOutcome> {
  let url: string;
  try {
    url = apiUrl(endpoint, "healthz", opts.pageUrl);
  } catch (e) {
    return { kind: "unreachable", url: endpoint.baseUrl, message: (e as Error).message };
  }
  const fetchFn = opts.fetchFn ?? ((i, init) => fetch(i, init));
  const timeoutMs = opts.timeoutMs ?? 5000;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  try {
    const resp = await fetchFn(url, {
      method: "GET",
      headers: { Accept: "application/json", ...authHeaders(endpoint) },
      signal,
    });
    const text = await resp.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return { kind: "down", status: resp.status, message: `HTTP ${resp.status}, not the API's JSON: ${snippetOf(text, 120)}` };
    }
    if (!isObject(parsed) || typeof parsed.ok !== "boolean") {
      return { kind: "down", status: resp.status, message: `HTTP ${resp.status}, unexpected health answer` };
    }
    const health = parsed as unknown as Health;
    if (resp.ok && health.ok) return { kind: "up", status: resp.status, health };
    return { kind: "down", status: resp.status, health, message: `HTTP ${resp.status}: sandbox not ready` };
  } catch (err) {
    let message = err instanceof Error ? err.message : String(err);
    if (opts.signal?.aborted) message = "check cancelled";
    else if (timeout.aborted) message = `no answer within ${timeoutMs / 1000} s`;
    return { kind: "unreachable", url, message };
  }
}

export interface Described {
  tone: "ok" | "error" | "warn" | "info";
  /** A short heading, e.g. "Syntax error on line 3". */
  title: string;
  /** One or two sentences saying what happened and what to do. */
  detail: string;
}

/** Words for every outcome; nothing falls through to a blank panel. */
export function describe(outcome: ExecOutcome): Described {
  switch (outcome.kind) {
    case "success":
      return { tone: "ok", title: "Success", detail: "main() returned a JSON value." };
    case "aborted":
      return { tone: "info", title: "Cancelled", detail: "The request was cancelled before an answer arrived; the server may still finish the run." };
    case "network":
      return {
        tone: "error",
        title: "Endpoint unreachable",
        detail: `Could not reach ${outcome.url || "the endpoint"} (${outcome.message}). Check the endpoint in Settings, your connection, or the server's CORS policy.`,
      };
    case "bad_response":
      return {
        tone: "error",
        title: `Unexpected answer (HTTP ${outcome.status})`,
        detail: `The endpoint answered, but not with the API's JSON (${outcome.reason}${outcome.contentType ? `, ${outcome.contentType}` : ""}). ${statusHint(outcome.status)}${outcome.snippet ? ` It said: ${outcome.snippet}` : ""}`,
      };
    case "failure":
      return describeError(outcome.error, outcome.status, outcome.retryAfterSec);
  }
}

function statusHint(status: number): string {
  if (status === 401 || status === 403) return "Access was refused: check the token or API key in Settings.";
  if (status === 429) return "The server or a proxy is rate-limiting; retry shortly.";
  if (status === 502 || status === 503 || status === 504) return "A proxy or load balancer could not get an answer from the service; it may be starting or down.";
  if (status === 404) return "Nothing answers at this path: check the endpoint URL in Settings.";
  return "A proxy or a wrong URL may be in the way.";
}

function at(line?: number): string {
  return line ? ` on line ${line}` : "";
}

export function describeError(e: ExecError, status: number, retryAfterSec?: number): Described {
  const msg = e.message;
  switch (e.code) {
    case "syntax_error":
      return { tone: "error", title: `Syntax error${at(e.line)}`, detail: msg || "Python could not parse the script." };
    case "missing_main":
      return { tone: "error", title: "No main() function", detail: msg || "Define def main(): and return a JSON-compatible value." };
    case "runtime_error":
      return { tone: "error", title: `${e.type || "Exception"}${at(e.line)}`, detail: msg || "main() raised an exception." };
    case "result_not_json":
      return { tone: "error", title: "Result is not JSON", detail: msg || "main() returned a value that cannot be encoded as JSON (use dicts, lists, str, int, float, bool, None)." };
    case "result_too_large":
      return { tone: "error", title: "Result too large", detail: msg || "main()'s return value exceeds the size limit." };
    case "timeout":
      return { tone: "warn", title: "Time limit exceeded", detail: msg || "The script ran longer than allowed and was stopped." };
    case "memory_limit":
      return { tone: "warn", title: "Memory limit exceeded", detail: msg || "The script used more memory than allowed and was stopped." };
    case "killed":
      return { tone: "warn", title: "Script was killed", detail: msg || "The sandbox stopped the script (for example a forbidden system call)." };
    case "overloaded":
      return {
        tone: "warn",
        title: "Server busy",
        detail: `${msg || "All sandboxes are busy."} ${retryAfterSec !== undefined ? `Retry in ${retryAfterSec} s.` : "Retry shortly."}`,
      };
    case "unauthorized":
      return { tone: "error", title: "Unauthorized", detail: `${msg ? msg + ". " : ""}Set a bearer token or API key in Settings.` };
    case "invalid_request":
      return { tone: "error", title: "Invalid request", detail: msg || "The server rejected the request." };
    case "script_too_large":
      return { tone: "error", title: "Script too large", detail: msg || "The script exceeds the server's size limit." };
    case "input_too_large":
      return {
        tone: "error",
        title: "Input too large",
        detail: msg || "The input exceeds the server's size limit for JSON input, or the attached files exceed the limit on their number or total size.",
      };
    case "unsupported_media_type":
    case "method_not_allowed":
      return { tone: "error", title: `Request rejected (${e.code})`, detail: msg || `HTTP ${status}` };
    case "unavailable":
      return { tone: "warn", title: "Service unavailable", detail: msg || "The server is shutting down or its sandbox is down; retry later." };
    case "internal":
      return { tone: "error", title: "Server error", detail: msg || "The server failed to run the script (not your script's fault)." };
    default:
      return { tone: "error", title: `Error: ${e.code} (HTTP ${status})`, detail: msg || "The server reported an error." };
  }
}

/** The line to mark in the editor, if the failure points at one. */
export function errorLine(outcome: ExecOutcome | null): number | null {
  if (!outcome || outcome.kind !== "failure") return null;
  return outcome.error.line ?? null;
}

/** POSIX shell single-quoting. */
export function shellQuote(s: string): string {
  return "'" + s.replace(/'/g, `'\\''`) + "'";
}

/**
 * A curl command equivalent to what Run sends. The secret itself is never
 * written into it: it refers to $PYTHON_API_TOKEN so a pasted command does not
 * leak the key into shell history or chat.
 */
export function curlCommand(
  script: string,
  endpoint: Endpoint,
  pageUrl: string,
  input: RunInput = noInput,
  files: readonly InputFile[] = [],
): string {
  const req = buildExecuteRequest(script, endpoint, pageUrl, input, files);
  const parts = [`curl -sS -X POST ${shellQuote(req.url)}`, `-H 'Content-Type: application/json'`];
  if (endpoint.token.trim() !== "") {
    parts.push(
      endpoint.authMode === "api-key"
        ? `-H "X-API-Key: $PYTHON_API_TOKEN"`
        : `-H "Authorization: Bearer $PYTHON_API_TOKEN"`,
    );
  }
  parts.push(`--data-binary ${shellQuote(req.init.body)}`);
  return parts.join(" \\\n  ");
}
