import { useState, type ReactNode } from "react";
import { Braces, LoaderCircle, RotateCw, Settings, Square, Terminal } from "lucide-react";
import { describe, errorLine } from "./api";
import { CopyButton } from "./CopyButton";
import { Elapsed } from "./Elapsed";
import { formatMb, formatMs, limitGloss } from "./format";
import { JsonTree } from "./JsonTree";
import { OutputFiles } from "./OutputFiles";
import type { RunState } from "./useRun";

function OutputSection(props: { title: string; badge?: ReactNode; actions?: ReactNode; children: ReactNode; id: string }) {
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

export function Output(props: {
  run: RunState;
  profile?: string;
  onCancel(): void;
  onRetry(): void;
  onGotoLine(line: number): void;
  onGotoInput(): void;
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
        <p className="muted">Files the script writes to <code>outputs/</code> are shown under the result.</p>
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

  const gotoInput = (
    <button type="button" className="btn btn-small" onClick={props.onGotoInput} aria-label="Go to the Input (JSON) pane">
      <Braces size={14} aria-hidden /> Go to the input
    </button>
  );

  if (run.status === "invalid_input") {
    return (
      <div className="output" data-testid="output-done" data-outcome="invalid_input">
        <div className="status status-error" data-testid="status" role="status">
          <strong className="status-title">Not sent: the input is not valid JSON</strong>
        </div>
        <div className="alert alert-error" role="alert" data-testid="error" data-code="invalid_input">
          <p className="alert-detail">
            Run sends the Input (JSON) pane as <code>main(input)</code>, so it must hold one JSON value, or be empty to call{" "}
            <code>main()</code> without one. The parser said: {run.message}
          </p>
          <div className="alert-actions">{gotoInput}</div>
        </div>
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
  const limit = outcome.kind === "failure" ? outcome.error.limit : undefined;
  // "main() takes no parameter" / "the request has no input": the fix is in the Input pane.
  const inputMismatch =
    outcome.kind === "failure" && outcome.error.code === "invalid_request" && /\binput\b/i.test(outcome.error.message);

  return (
    <div className="output" data-testid="output-done" data-outcome={outcome.kind}>
      <div className={`status status-${d.tone}`} data-testid="status" role="status">
        <strong className="status-title">{d.title}</strong>
        {/* Each term with its value in a div (allowed in a dl) so a pair never breaks across lines. */}
        <dl className="meta">
          {status !== null && (
            <div>
              <dt>HTTP</dt>
              <dd data-testid="http-status">{status}</dd>
            </div>
          )}
          {body && (
            <div>
              <dt>sandbox</dt>
              <dd data-testid="duration">{formatMs(body.duration_ms)}</dd>
            </div>
          )}
          {body?.usage && (
            <div>
              <dt>used</dt>
              <dd
                data-testid="usage"
                title={`The job itself: wall ${formatMs(body.usage.wall_ms)}, CPU ${formatMs(body.usage.cpu_ms)}, peak resident memory ${formatMb(body.usage.max_rss_mb)} (its largest process; on the fork path the preloaded runtime's shared pages count)`}
              >
                CPU {formatMs(body.usage.cpu_ms)} · peak {formatMb(body.usage.max_rss_mb)}
              </dd>
            </div>
          )}
          <div>
            <dt>round trip</dt>
            <dd>{formatMs(elapsedMs)}</dd>
          </div>
          {profile && (
            <div>
              <dt>profile</dt>
              <dd data-testid="profile">{profile}</dd>
            </div>
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
          {limit && (
            <p className="alert-limit" data-testid="error-limit" data-limit={limit.name}>
              Limit: <code>{limit.name}</code> = <code>{limit.value}</code>
              {limitGloss(limit.name, limit.value) && <span className="muted"> ({limitGloss(limit.name, limit.value)})</span>}
            </p>
          )}
          <div className="alert-actions">
            {line !== null && (
              <button type="button" className="btn btn-small" onClick={() => props.onGotoLine(line)} aria-label={`Go to line ${line} in the editor`}>
                Go to line {line}
              </button>
            )}
            {inputMismatch && gotoInput}
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

      {body && (body.files.length > 0 || body.files_skipped.length > 0 || body.files_truncated) && (
        <OutputFiles files={body.files} skipped={body.files_skipped} truncated={body.files_truncated} />
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
