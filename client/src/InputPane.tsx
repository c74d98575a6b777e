import type { Ref } from "react";
import { ChevronDown, ChevronRight } from "lucide-react";
import type { ParsedInput } from "./api";

/**
 * The Input (JSON) pane under the editor: one JSON value passed to
 * main(input), or empty for main(). Collapsible; invalid JSON is shown inline
 * (and Run refuses to send it, see useRun).
 */
export function InputPane(props: {
  value: string;
  parsed: ParsedInput;
  open: boolean;
  onToggle(): void;
  onChange(text: string): void;
  ref?: Ref<HTMLTextAreaElement>;
}) {
  const { value, parsed, open } = props;
  const empty = parsed.ok && parsed.input.kind === "none";
  const bytes = new TextEncoder().encode(value.trim()).length;
  let state: { tone: string; text: string };
  if (!parsed.ok) state = { tone: "error", text: "not valid JSON: Run will not send it" };
  else if (empty) state = { tone: "muted", text: "empty: main() is called without an argument" };
  else state = { tone: "muted", text: `main(input) · ${bytes.toLocaleString("en")} bytes` };

  return (
    <section className="input-pane" aria-labelledby="input-h" data-testid="input-pane">
      <div className="pane-head input-head">
        <h2 id="input-h">
          <button
            type="button"
            className="input-toggle"
            aria-expanded={open}
            aria-controls="input-body"
            onClick={props.onToggle}
            data-testid="input-toggle"
          >
            {open ? <ChevronDown size={14} aria-hidden /> : <ChevronRight size={14} aria-hidden />}
            Input (JSON)
          </button>
        </h2>
        <span className={`small input-state ${state.tone === "error" ? "field-error" : "muted"}`} data-testid="input-state">
          {state.text}
        </span>
        {value !== "" && (
          <button type="button" className="btn btn-small" onClick={() => props.onChange("")} aria-label="Clear the input (call main() without one)">
            Clear
          </button>
        )}
      </div>
      <div id="input-body" className="input-body" hidden={!open}>
        <textarea
          ref={props.ref}
          id="input-json"
          className="input-json"
          aria-label="Input (JSON)"
          aria-describedby={parsed.ok ? "input-help" : "input-error input-help"}
          aria-invalid={!parsed.ok}
          value={value}
          onChange={(e) => props.onChange(e.target.value)}
          rows={4}
          spellCheck={false}
          autoCapitalize="off"
          autoComplete="off"
          autoCorrect="off"
          placeholder='{"numbers": [1, 2, 3]}'
          data-testid="input"
        />
        {!parsed.ok && (
          <p id="input-error" className="field-error input-error" data-testid="input-error">
            Not valid JSON ({parsed.error}). Fix it, or empty the pane to call main() without input.
          </p>
        )}
        <p id="input-help" className="help input-help">
          One JSON value, passed as <code>main(input)</code>; <code>null</code> counts as a value. Empty: <code>main()</code> gets no argument.
        </p>
      </div>
    </section>
  );
}
