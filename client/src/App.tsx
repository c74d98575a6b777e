import { useCallback, useEffect, useRef, useState } from "react";
import {
  Activity,
  Check,
  Copy,
  FileCode2,
  LoaderCircle,
  Moon,
  Play,
  RotateCw,
  Settings,
  Square,
  Sun,
  Terminal,
  X,
} from "lucide-react";
import {
  checkHealth,
  curlCommand,
  describe,
  type Endpoint,
  type ExecOutcome,
  type HealthOutcome,
  errorLine,
  execute,
  validateBaseUrl,
} from "./api";
import { Editor, type EditorHandle } from "./Editor";
import { JsonTree } from "./JsonTree";
import { examples, helloScript } from "./examples";
import {
  loadEndpoint,
  loadScript,
  loadTheme,
  saveEndpoint,
  saveScript,
  saveTheme,
  type ThemeChoice,
} from "./storage";

type RunState =
  | { status: "idle" }
  | { status: "running"; startedAt: number }
  | { status: "done"; outcome: ExecOutcome; elapsedMs: number };

type HealthState = { kind: "checking" } | HealthOutcome;

const pageUrl = () => window.location.href;

function useSystemDark(): boolean {
  const mq = typeof window.matchMedia === "function" ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  const [dark, setDark] = useState(mq?.matches ?? false);
  useEffect(() => {
    if (!mq) return;
    const on = (e: MediaQueryListEvent) => setDark(e.matches);
    mq.addEventListener("change", on);
    return () => mq.removeEventListener("change", on);
  }, [mq]);
  return dark;
}

async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Clipboard API needs a secure context; fall back for plain-http deployments.
    const ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.style.position = "fixed";
    ta.style.opacity = "0";
    document.body.appendChild(ta);
    ta.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    ta.remove();
    return ok;
  }
}

function CopyButton({ text, label, className }: { text: string; label: string; className?: string }) {
  const [state, setState] = useState<"idle" | "ok" | "fail">("idle");
  useEffect(() => {
    if (state === "idle") return;
    const t = setTimeout(() => setState("idle"), 1500);
    return () => clearTimeout(t);
  }, [state]);
  return (
    <button
      type="button"
      className={className ?? "btn btn-small"}
      aria-label={label}
      title={label}
      onClick={async () => setState((await copyText(text)) ? "ok" : "fail")}
    >
      {state === "ok" ? <Check size={14} aria-hidden /> : <Copy size={14} aria-hidden />}
      <span aria-live="polite">{state === "ok" ? "Copied" : state === "fail" ? "Copy failed" : "Copy"}</span>
    </button>
  );
}

function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return "–";
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

function Elapsed({ since }: { since: number }) {
  const [now, setNow] = useState(performance.now());
  useEffect(() => {
    const t = setInterval(() => setNow(performance.now()), 100);
    return () => clearInterval(t);
  }, []);
  return <span className="elapsed">{((now - since) / 1000).toFixed(1)} s</span>;
}

function HealthPill({ health, onCheck }: { health: HealthState; onCheck(): void }) {
  let tone = "info";
  let text = "checking…";
  let title = "Checking the endpoint's /healthz";
  if (health.kind === "up") {
    tone = "ok";
    text = health.health.profile ?? "healthy";
    title = `Endpoint healthy; sandbox profile ${health.health.profile ?? "unknown"}${health.health.version ? `, version ${health.health.version}` : ""}`;
  } else if (health.kind === "down") {
    tone = "warn";
    text = `down (${health.status})`;
    title = health.message;
  } else if (health.kind === "unreachable") {
    tone = "error";
    text = "unreachable";
    title = `${health.url}: ${health.message}`;
  }
  return (
    <button
      type="button"
      className={`pill pill-${tone}`}
      onClick={onCheck}
      title={title}
      aria-label={`Endpoint health: ${text}. ${title}. Check again`}
      data-testid="health"
      data-health={health.kind}
    >
      <Activity size={14} aria-hidden />
      <span>{text}</span>
    </button>
  );
}

function OutputSection(props: { title: string; badge?: React.ReactNode; actions?: React.ReactNode; children: React.ReactNode; id: string }) {
  return (
    <section className="out-section" aria-labelledby={`${props.id}-h`} data-testid={props.id}>
      <div className="out-section-head">
        <h3 id={`${props.id}-h`}>{props.title}</h3>
        {props.badge}
        <div className="spacer" />
        {props.actions}
      </div>
      {props.children}
    </section>
  );
}

function Stream({ id, title, text, truncated }: { id: string; title: string; text: string; truncated: boolean }) {
  return (
    <OutputSection
      id={id}
      title={title}
      badge={truncated ? <span className="badge badge-warn" title="The server cut this stream at its size cap">truncated</span> : null}
      actions={text ? <CopyButton text={text} label={`Copy ${title}`} /> : null}
    >
      {text ? <pre className="stream">{text}</pre> : <p className="muted empty">(empty)</p>}
    </OutputSection>
  );
}

function Output(props: {
  run: RunState;
  profile?: string;
  onCancel(): void;
  onRetry(): void;
  onGotoLine(line: number): void;
  onOpenSettings(): void;
}) {
  const { run } = props;
  const [view, setView] = useState<"tree" | "raw">("tree");

  if (run.status === "idle") {
    return (
      <div className="placeholder" data-testid="output-idle">
        <Terminal size={28} aria-hidden />
        <p>
          Press <strong>Run</strong> or <kbd>Ctrl</kbd>+<kbd>Enter</kbd> to execute <code>main()</code> in the sandbox.
        </p>
        <p className="muted">The result, stdout and stderr appear here.</p>
      </div>
    );
  }
  if (run.status === "running") {
    return (
      <div className="placeholder running" data-testid="output-running" role="status">
        <LoaderCircle size={28} className="spin" aria-hidden />
        <p>
          Running… <Elapsed since={run.startedAt} />
        </p>
        <button type="button" className="btn" onClick={props.onCancel} aria-label="Cancel the running request">
          <Square size={14} aria-hidden /> Cancel
        </button>
      </div>
    );
  }

  const { outcome, elapsedMs } = run;
  const d = describe(outcome);
  const body = outcome.kind === "success" || outcome.kind === "failure" ? outcome.body : null;
  const status = outcome.kind === "success" || outcome.kind === "failure" || outcome.kind === "bad_response" ? outcome.status : null;
  const line = errorLine(outcome);
  const profile = body?.profile ?? props.profile;
  const rawJson = outcome.kind === "success" ? JSON.stringify(outcome.body.result, null, 2) : "";

  return (
    <div className="output" data-testid="output-done" data-outcome={outcome.kind}>
      <div className={`status status-${d.tone}`} data-testid="status" role="status">
        <strong className="status-title">{d.title}</strong>
        <dl className="meta">
          {status !== null && (
            <>
              <dt>HTTP</dt>
              <dd data-testid="http-status">{status}</dd>
            </>
          )}
          {body && (
            <>
              <dt>sandbox</dt>
              <dd data-testid="duration">{formatMs(body.duration_ms)}</dd>
            </>
          )}
          <dt>round trip</dt>
          <dd>{formatMs(elapsedMs)}</dd>
          {profile && (
            <>
              <dt>profile</dt>
              <dd data-testid="profile">{profile}</dd>
            </>
          )}
        </dl>
      </div>

      {outcome.kind !== "success" && (
        <div className={`alert alert-${d.tone}`} role="alert" data-testid="error" data-code={outcome.kind === "failure" ? outcome.error.code : outcome.kind}>
          <p className="alert-detail">{d.detail}</p>
          {outcome.kind === "failure" && (
            <p className="alert-code">
              code <code>{outcome.error.code}</code>
              {outcome.error.type && (
                <>
                  {" "}
                  · type <code>{outcome.error.type}</code>
                </>
              )}
            </p>
          )}
          <div className="alert-actions">
            {line !== null && (
              <button type="button" className="btn btn-small" onClick={() => props.onGotoLine(line)} aria-label={`Go to line ${line} in the editor`}>
                Go to line {line}
              </button>
            )}
            {outcome.kind === "failure" && (outcome.error.code === "overloaded" || outcome.error.code === "unavailable") && (
              <button type="button" className="btn btn-small" onClick={props.onRetry} aria-label="Retry the run">
                <RotateCw size={14} aria-hidden /> Retry{outcome.retryAfterSec !== undefined ? ` (after ${outcome.retryAfterSec} s)` : ""}
              </button>
            )}
            {(outcome.kind === "network" ||
              outcome.kind === "bad_response" ||
              (outcome.kind === "failure" && outcome.error.code === "unauthorized")) && (
              <button type="button" className="btn btn-small" onClick={props.onOpenSettings} aria-label="Open endpoint settings">
                <Settings size={14} aria-hidden /> Endpoint settings
              </button>
            )}
          </div>
          {outcome.kind === "failure" && outcome.error.traceback && (
            <details open className="traceback">
              <summary>Traceback</summary>
              <pre data-testid="traceback">{outcome.error.traceback}</pre>
            </details>
          )}
        </div>
      )}

      {outcome.kind === "success" && (
        <OutputSection
          id="result"
          title="Result"
          actions={
            <>
              <div className="segmented" role="group" aria-label="Result view">
                <button type="button" aria-pressed={view === "tree"} onClick={() => setView("tree")}>
                  Tree
                </button>
                <button type="button" aria-pressed={view === "raw"} onClick={() => setView("raw")}>
                  Raw
                </button>
              </div>
              <CopyButton text={rawJson} label="Copy result JSON" />
            </>
          }
        >
          {view === "tree" ? <JsonTree value={outcome.body.result} /> : <pre className="stream" data-testid="result-raw">{rawJson}</pre>}
        </OutputSection>
      )}

      {body && (
        <>
          <Stream id="stdout" title="stdout" text={body.stdout} truncated={body.stdout_truncated} />
          <Stream id="stderr" title="stderr" text={body.stderr} truncated={body.stderr_truncated} />
        </>
      )}
    </div>
  );
}

function SettingsDialog(props: {
  open: boolean;
  endpoint: Endpoint;
  theme: ThemeChoice | null;
  health: HealthState;
  onSave(e: Endpoint): void;
  onTheme(t: ThemeChoice | null): void;
  onCheck(): void;
  onClose(): void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const [draft, setDraft] = useState(props.endpoint);
  const [showToken, setShowToken] = useState(false);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (props.open && !d.open) {
      setDraft(props.endpoint);
      d.showModal();
    } else if (!props.open && d.open) d.close();
  }, [props.open, props.endpoint]);
  const urlError = draft.baseUrl.trim() === "" ? null : validateBaseUrl(draft.baseUrl);
  const dirty =
    draft.baseUrl !== props.endpoint.baseUrl || draft.token !== props.endpoint.token || draft.authMode !== props.endpoint.authMode;
  const h = props.health;

  return (
    <dialog ref={ref} className="dialog" aria-labelledby="settings-title" onClose={props.onClose} data-testid="settings">
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault();
          if (urlError) return;
          props.onSave({ ...draft, baseUrl: draft.baseUrl.trim(), token: draft.token.trim() });
        }}
      >
        <div className="dialog-head">
          <h2 id="settings-title">Settings</h2>
          <button type="button" className="icon-btn" aria-label="Close settings" onClick={props.onClose}>
            <X size={18} aria-hidden />
          </button>
        </div>

        <fieldset>
          <legend>Endpoint</legend>
          <label htmlFor="endpoint-url">Base URL</label>
          <input
            id="endpoint-url"
            type="url"
            inputMode="url"
            spellCheck={false}
            autoComplete="url"
            placeholder={`Same origin (${window.location.origin})`}
            value={draft.baseUrl}
            aria-invalid={urlError !== null}
            aria-describedby="endpoint-url-help"
            onChange={(e) => setDraft({ ...draft, baseUrl: e.target.value })}
          />
          <p id="endpoint-url-help" className={urlError ? "field-error" : "help"}>
            {urlError ?? "Leave empty to use the server that served this page, or give another deployment, e.g. a Cloud Run URL."}
          </p>

          <label htmlFor="auth-mode">Credential type</label>
          <select id="auth-mode" value={draft.authMode} onChange={(e) => setDraft({ ...draft, authMode: e.target.value as Endpoint["authMode"] })}>
            <option value="bearer">Authorization: Bearer token</option>
            <option value="api-key">X-API-Key header</option>
          </select>

          <label htmlFor="endpoint-token">Token or API key (optional)</label>
          <div className="row">
            <input
              id="endpoint-token"
              type={showToken ? "text" : "password"}
              autoComplete="off"
              spellCheck={false}
              value={draft.token}
              aria-describedby="endpoint-token-help"
              onChange={(e) => setDraft({ ...draft, token: e.target.value })}
            />
            <button type="button" className="btn btn-small" aria-pressed={showToken} aria-label={showToken ? "Hide token" : "Show token"} onClick={() => setShowToken(!showToken)}>
              {showToken ? "Hide" : "Show"}
            </button>
          </div>
          <p id="endpoint-token-help" className="help">
            Stored in this browser's localStorage and sent only to this endpoint.
          </p>

          <div className="row">
            <button type="submit" className="btn btn-primary" disabled={urlError !== null} aria-label="Save endpoint settings and check health">
              Save
            </button>
            <button
              type="button"
              className="btn"
              aria-label="Reset the endpoint to the same origin with no token"
              onClick={() => {
                const reset: Endpoint = { baseUrl: "", token: "", authMode: "bearer" };
                setDraft(reset);
                props.onSave(reset);
              }}
            >
              Use same origin
            </button>
            {dirty && <span className="muted small">unsaved changes</span>}
          </div>
        </fieldset>

        <fieldset>
          <legend>Health</legend>
          <div className="row">
            <HealthPill health={h} onCheck={props.onCheck} />
            <button type="button" className="btn btn-small" onClick={props.onCheck} aria-label="Check the endpoint's health now">
              <RotateCw size={14} aria-hidden /> Check
            </button>
          </div>
          <div className="health-detail" data-testid="health-detail" aria-live="polite">
            {h.kind === "checking" && <p className="muted">Checking…</p>}
            {h.kind === "unreachable" && (
              <p className="field-error">
                Unreachable: {h.url} ({h.message})
              </p>
            )}
            {h.kind === "down" && <p className="field-error">{h.message}</p>}
            {(h.kind === "up" || (h.kind === "down" && h.health)) && (
              <dl className="kv">
                <dt>profile</dt>
                <dd>{(h.kind === "up" ? h.health : h.health!).profile ?? "–"}</dd>
                <dt>mode</dt>
                <dd>{(h.kind === "up" ? h.health : h.health!).mode ?? "–"}</dd>
                <dt>layers</dt>
                <dd>{((h.kind === "up" ? h.health : h.health!).layers ?? []).join(", ") || "–"}</dd>
                {((h.kind === "up" ? h.health : h.health!).weaker ?? []).length > 0 && (
                  <>
                    <dt>weaker</dt>
                    <dd>{(h.kind === "up" ? h.health : h.health!).weaker!.join(", ")}</dd>
                  </>
                )}
                {(h.kind === "up" ? h.health : h.health!).version && (
                  <>
                    <dt>version</dt>
                    <dd>{(h.kind === "up" ? h.health : h.health!).version}</dd>
                  </>
                )}
              </dl>
            )}
          </div>
        </fieldset>

        <fieldset>
          <legend>Appearance</legend>
          <label htmlFor="theme-choice">Theme</label>
          <select
            id="theme-choice"
            value={props.theme ?? "system"}
            onChange={(e) => props.onTheme(e.target.value === "system" ? null : (e.target.value as ThemeChoice))}
          >
            <option value="system">Follow the system</option>
            <option value="light">Light</option>
            <option value="dark">Dark</option>
          </select>
        </fieldset>
      </form>
    </dialog>
  );
}

function CurlDialog(props: { open: boolean; command: string; onClose(): void }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (props.open && !d.open) d.showModal();
    else if (!props.open && d.open) d.close();
  }, [props.open]);
  const usesToken = props.command.includes("$PYTHON_API_TOKEN");
  return (
    <dialog ref={ref} className="dialog" aria-labelledby="curl-title" onClose={props.onClose} data-testid="curl-dialog">
      <div className="dialog-head">
        <h2 id="curl-title">Copy as curl</h2>
        <button type="button" className="icon-btn" aria-label="Close" onClick={props.onClose}>
          <X size={18} aria-hidden />
        </button>
      </div>
      <label htmlFor="curl-text" className="help">
        The same request Run sends, for a terminal.
        {usesToken && " Export PYTHON_API_TOKEN first: the key itself is not written into the command."}
      </label>
      <textarea id="curl-text" className="curl" readOnly value={props.command} rows={8} spellCheck={false} onFocus={(e) => e.currentTarget.select()} />
      <div className="row">
        <CopyButton text={props.command} label="Copy the curl command" className="btn btn-primary" />
        <button type="button" className="btn" onClick={props.onClose}>
          Close
        </button>
      </div>
    </dialog>
  );
}

export function App() {
  const editor = useRef<EditorHandle>(null);
  const [initialScript] = useState(() => loadScript(helloScript));
  const [endpoint, setEndpoint] = useState<Endpoint>(loadEndpoint);
  const [theme, setTheme] = useState<ThemeChoice | null>(loadTheme);
  const systemDark = useSystemDark();
  const effectiveTheme: ThemeChoice = theme ?? (systemDark ? "dark" : "light");
  const [run, setRun] = useState<RunState>({ status: "idle" });
  const [health, setHealth] = useState<HealthState>({ kind: "checking" });
  const [settingsOpen, setSettingsOpen] = useState(false);
  const [curl, setCurl] = useState<string | null>(null);
  const [example, setExample] = useState("");
  const abort = useRef<AbortController | null>(null);
  const healthAbort = useRef<AbortController | null>(null);
  const saveTimer = useRef<number | undefined>(undefined);

  useEffect(() => {
    const root = document.documentElement;
    if (theme) root.dataset.theme = theme;
    else delete root.dataset.theme;
    saveTheme(theme);
  }, [theme]);

  const check = useCallback(() => {
    healthAbort.current?.abort();
    const ac = new AbortController();
    healthAbort.current = ac;
    setHealth({ kind: "checking" });
    void checkHealth(endpoint, { pageUrl: pageUrl(), signal: ac.signal }).then((h) => {
      if (!ac.signal.aborted) setHealth(h);
    });
  }, [endpoint]);

  useEffect(() => {
    check();
    return () => healthAbort.current?.abort();
  }, [check]);

  const doRun = useCallback(async () => {
    if (abort.current) return; // one run at a time
    const script = editor.current?.getDoc() ?? "";
    saveScript(script);
    const ac = new AbortController();
    abort.current = ac;
    editor.current?.markError(null);
    const startedAt = performance.now();
    setRun({ status: "running", startedAt });
    const outcome = await execute(script, endpoint, { pageUrl: pageUrl(), signal: ac.signal });
    abort.current = null;
    setRun({ status: "done", outcome, elapsedMs: performance.now() - startedAt });
    const line = errorLine(outcome);
    if (line !== null && outcome.kind === "failure") {
      editor.current?.markError(line, `${outcome.error.type ?? outcome.error.code}: ${outcome.error.message}`);
    }
  }, [endpoint]);

  const cancel = useCallback(() => abort.current?.abort(), []);

  // Ctrl/Cmd+Enter anywhere on the page; the editor's own binding handles it
  // (and marks the event handled) when focus is inside the editor.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented || e.key !== "Enter" || !(e.ctrlKey || e.metaKey)) return;
      if (document.querySelector("dialog[open]")) return;
      e.preventDefault();
      void doRun();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [doRun]);

  const onChange = useCallback((doc: string) => {
    window.clearTimeout(saveTimer.current);
    saveTimer.current = window.setTimeout(() => saveScript(doc), 300);
  }, []);

  const running = run.status === "running";
  const profile = health.kind === "up" ? health.health.profile : undefined;

  return (
    <div className="app">
      <header className="topbar">
        <div className="brand">
          <FileCode2 size={20} aria-hidden />
          <h1>Python API IDE</h1>
        </div>
        <div className="toolbar">
          <label htmlFor="examples" className="visually-hidden">
            Load an example
          </label>
          <select
            id="examples"
            className="select"
            aria-label="Load an example script"
            value={example}
            onChange={(e) => {
              const ex = examples.find((x) => x.id === e.target.value);
              setExample("");
              if (!ex) return;
              editor.current?.setDoc(ex.script);
              saveScript(ex.script);
              editor.current?.focus();
            }}
          >
            <option value="">Examples…</option>
            {examples.map((ex) => (
              <option key={ex.id} value={ex.id}>
                {ex.label}
              </option>
            ))}
          </select>
          {running ? (
            <button type="button" className="btn btn-danger" onClick={cancel} aria-label="Cancel the running request" data-testid="cancel">
              <Square size={16} aria-hidden />
              <span className="btn-label">Cancel</span>
              <Elapsed since={run.startedAt} />
            </button>
          ) : (
            <button
              type="button"
              className="btn btn-primary"
              onClick={() => void doRun()}
              aria-label="Run the script (Ctrl+Enter)"
              title="Run (Ctrl+Enter / Cmd+Enter)"
              aria-keyshortcuts="Control+Enter Meta+Enter"
              data-testid="run"
            >
              <Play size={16} aria-hidden />
              <span className="btn-label">Run</span>
            </button>
          )}
          <button
            type="button"
            className="btn"
            aria-label="Copy the request as a curl command"
            title="Copy as curl"
            onClick={() => {
              try {
                setCurl(curlCommand(editor.current?.getDoc() ?? "", endpoint, pageUrl()));
              } catch (e) {
                setCurl(`# ${(e as Error).message}`);
              }
            }}
          >
            <Terminal size={16} aria-hidden />
            <span className="btn-label">curl</span>
          </button>
          <HealthPill health={health} onCheck={check} />
          <button type="button" className="icon-btn" aria-label="Open settings (endpoint, token, theme)" title="Settings" onClick={() => setSettingsOpen(true)} data-testid="open-settings">
            <Settings size={18} aria-hidden />
          </button>
          <button
            type="button"
            className="icon-btn"
            aria-label={`Switch to ${effectiveTheme === "dark" ? "light" : "dark"} theme`}
            title={`Switch to ${effectiveTheme === "dark" ? "light" : "dark"} theme`}
            onClick={() => setTheme(effectiveTheme === "dark" ? "light" : "dark")}
            data-testid="theme-toggle"
          >
            {effectiveTheme === "dark" ? <Sun size={18} aria-hidden /> : <Moon size={18} aria-hidden />}
          </button>
        </div>
      </header>

      <main className="workspace">
        <section className="pane" aria-labelledby="editor-h">
          <div className="pane-head">
            <h2 id="editor-h">main.py</h2>
            <span className="muted small hint">
              <kbd>Ctrl</kbd>+<kbd>Enter</kbd> runs · <kbd>Tab</kbd> indents · <kbd>Esc</kbd> <kbd>Tab</kbd> leaves
            </span>
          </div>
          <div className="pane-body editor-body">
            <Editor ref={editor} initial={initialScript} onChange={onChange} onRun={() => void doRun()} />
          </div>
        </section>
        <section className="pane" aria-labelledby="output-h" aria-busy={running}>
          <div className="pane-head">
            <h2 id="output-h">Output</h2>
            {endpoint.baseUrl && (
              <span className="muted small endpoint-note" title={endpoint.baseUrl}>
                → {endpoint.baseUrl}
              </span>
            )}
          </div>
          <div className="pane-body output-body">
            <Output
              run={run}
              profile={profile}
              onCancel={cancel}
              onRetry={() => void doRun()}
              onGotoLine={(l) => editor.current?.gotoLine(l)}
              onOpenSettings={() => setSettingsOpen(true)}
            />
          </div>
        </section>
      </main>

      <SettingsDialog
        open={settingsOpen}
        endpoint={endpoint}
        theme={theme}
        health={health}
        onSave={(e) => {
          setEndpoint(e);
          saveEndpoint(e);
        }}
        onTheme={setTheme}
        onCheck={check}
        onClose={() => setSettingsOpen(false)}
      />
      <CurlDialog open={curl !== null} command={curl ?? ""} onClose={() => setCurl(null)} />
    </div>
  );
}
