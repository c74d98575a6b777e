import { useCallback, useRef, useState, type RefObject } from "react";
import { type Endpoint, type ExecOutcome, errorLine, execute, type InputFile, parseInput } from "./api";
import type { EditorHandle } from "./Editor";
import { pageUrl } from "./pageUrl";
import { saveInput, saveScript } from "./storage";

export type RunState =
  | { status: "idle" }
  | { status: "running"; startedAt: number }
  | { status: "done"; outcome: ExecOutcome; elapsedMs: number }
  /** Nothing was sent: the Input (JSON) pane does not hold valid JSON. */
  | { status: "invalid_input"; message: string };

/**
 * Runs the editor's script, with the Input (JSON) pane's value when it has
 * one and the attached files, against the endpoint, one run at a time: run() saves the script and
 * input, refuses an input that is not JSON (onInvalidInput is called so the
 * pane can be shown), clears the editor's error mark, sends the request and
 * marks the failing line afterwards; cancel() aborts the request in flight.
 */
export function useRun(
  editor: RefObject<EditorHandle | null>,
  endpoint: Endpoint,
  inputText: string,
  onInvalidInput: () => void,
  files: readonly InputFile[] = [],
): { run: RunState; doRun(): Promise<void>; cancel(): void } {
  const [run, setRun] = useState<RunState>({ status: "idle" });
  const abort = useRef<AbortController | null>(null);

  const doRun = useCallback(async () => {
    if (abort.current) return; // one run at a time
    const script = editor.current?.getDoc() ?? "";
    saveScript(script);
    saveInput(inputText);
    const parsed = parseInput(inputText);
    if (!parsed.ok) {
      setRun({ status: "invalid_input", message: parsed.error });
      onInvalidInput();
      return;
    }
    const ac = new AbortController();
    abort.current = ac;
    editor.current?.markError(null);
    const startedAt = performance.now();
    setRun({ status: "running", startedAt });
    const outcome = await execute(script, endpoint, { pageUrl: pageUrl(), input: parsed.input, files, signal: ac.signal });
    abort.current = null;
    setRun({ status: "done", outcome, elapsedMs: performance.now() - startedAt });
    const line = errorLine(outcome);
    if (line !== null && outcome.kind === "failure") {
      editor.current?.markError(line, `${outcome.error.type ?? outcome.error.code}: ${outcome.error.message}`);
    }
  }, [editor, endpoint, inputText, onInvalidInput, files]);

  const cancel = useCallback(() => abort.current?.abort(), []);

  return { run, doRun, cancel };
}
