import { useEffect, useRef, useState } from "react";
import { RotateCw, X } from "lucide-react";
import { type Endpoint, validateBaseUrl } from "./api";
import { HealthPill } from "./HealthPill";
import type { ThemeChoice } from "./storage";
import type { HealthState } from "./useHealth";

export function SettingsDialog(props: {
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
