import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { FileCode2, Moon, Play, Settings, Square, Sun, Terminal } from "lucide-react";
import { type AttachedFile, bytesToBase64, curlCommand, type Endpoint, parseInput, planAttach } from "./api";
import { CurlDialog } from "./CurlDialog";
import { Editor, type EditorHandle } from "./Editor";
import { Elapsed } from "./Elapsed";
import { ExamplePicker } from "./ExamplePicker";
import { FilesPane } from "./FilesPane";
import { helloScript } from "./examples";
import { HealthPill } from "./HealthPill";
import { InputPane } from "./InputPane";
import { Output } from "./Output";
import { pageUrl } from "./pageUrl";
import { SettingsDialog } from "./SettingsDialog";
import {
  loadEndpoint,
  loadInput,
  loadScript,
  loadTheme,
  saveEndpoint,
  saveInput,
  saveScript,
  saveTheme,
  type ThemeChoice,
} from "./storage";
import { useFileDrop } from "./useFileDrop";
import { useHealth } from "./useHealth";
import { useRun } from "./useRun";
import { useSystemDark } from "./useSystemDark";

export function App() {
  const editor = useRef<EditorHandle>(null);
  const [initialScript] = useState(() => loadScript(helloScript));
  const [endpoint, setEndpoint] = useState<Endpoint>(loadEndpoint);
  const [theme, setTheme] = useState<ThemeChoice | null>(loadTheme);
  const systemDark = useSystemDark();
  const effectiveTheme: ThemeChoice = theme ?? (systemDark ? "dark" : "light");
  const [settingsOpen, setSettingsOpen] = useState(false);
  const [curl, setCurl] = useState<string | null>(null);
  const saveTimer = useRef<number | undefined>(undefined);
  const inputBox = useRef<HTMLTextAreaElement>(null);
  const [inputText, setInputText] = useState(loadInput);
  const [inputOpen, setInputOpen] = useState(() => inputText !== "");
  const parsedInput = useMemo(() => parseInput(inputText), [inputText]);
  const inputSaveTimer = useRef<number | undefined>(undefined);
  // Attached files live in memory only (never localStorage: too big).
  const [files, setFiles] = useState<AttachedFile[]>([]);
  const filesRef = useRef<AttachedFile[]>([]);
  const [filesError, setFilesError] = useState<string | null>(null);
  const column = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const root = document.documentElement;
    if (theme) root.dataset.theme = theme;
    else delete root.dataset.theme;
    saveTheme(theme);
  }, [theme]);

  const { health, check } = useHealth(endpoint);
  // Shows the Input pane and puts the cursor in it (after React has unhidden it).
  const gotoInput = useCallback(() => {
    setInputOpen(true);
    window.setTimeout(() => inputBox.current?.focus(), 0);
  }, []);

  const { run, doRun, cancel } = useRun(editor, endpoint, inputText, gotoInput, files);

  const replaceFiles = useCallback((next: AttachedFile[]) => {
    filesRef.current = next;
    setFiles(next);
  }, []);

  // Checks the limits on names and sizes first (nothing is read when the
  // addition is refused), then reads each file and base64-encodes it.
  const addFiles = useCallback(
    async (list: File[]) => {
      const sizes = list.map((f) => ({ name: f.name, size: f.size }));
      const plan = planAttach(filesRef.current, sizes);
      if (!plan.ok) {
        setFilesError(plan.error);
        return;
      }
      let read: AttachedFile[];
      try {
        read = await Promise.all(
          list.map(async (f) => {
            const bytes = new Uint8Array(await f.arrayBuffer());
            return { name: f.name, size: bytes.length, content: bytesToBase64(bytes) };
          }),
        );
      } catch (e) {
        setFilesError(`Could not read the files: ${(e as Error).message}`);
        return;
      }
      // Checked again: files may have been added while these were read.
      const done = planAttach(filesRef.current, read);
      if (!done.ok) {
        setFilesError(done.error);
        return;
      }
      setFilesError(null);
      replaceFiles(done.files);
    },
    [replaceFiles],
  );
  const onDropFiles = useCallback((list: File[]) => void addFiles(list), [addFiles]);
  const dropping = useFileDrop(column, onDropFiles);

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

  const onInputChange = useCallback((text: string) => {
    setInputText(text);
    window.clearTimeout(inputSaveTimer.current);
    inputSaveTimer.current = window.setTimeout(() => saveInput(text), 300);
  }, []);

  const running = run.status === "running";
  const profile = health.kind === "up" ? health.health.profile : undefined;
  const takesFiles = health.kind === "up" ? health.health.files !== false : true;

  return (
    <div className="app">
      <header className="topbar">
        <div className="brand">
          <FileCode2 size={20} aria-hidden />
          <h1>Python API IDE</h1>
        </div>
        <div className="toolbar">
          <ExamplePicker
            onPick={(ex) => {
              editor.current?.setDoc(ex.script);
              saveScript(ex.script);
              // An example without an input clears the pane: its main() takes none.
              const input = ex.input ?? "";
              window.clearTimeout(inputSaveTimer.current);
              setInputText(input);
              saveInput(input);
              if (input !== "") setInputOpen(true);
              editor.current?.focus();
            }}
          />
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
              aria-describedby={parsedInput.ok ? undefined : "input-error"}
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
                if (!parsedInput.ok) throw new Error(`No command: the Input (JSON) pane is not valid JSON (${parsedInput.error})`);
                setCurl(curlCommand(editor.current?.getDoc() ?? "", endpoint, pageUrl(), parsedInput.input, files));
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
        <div ref={column} className={`column${dropping ? " drop-active" : ""}`} data-testid="drop-zone">
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
          <InputPane
            ref={inputBox}
            value={inputText}
            parsed={parsedInput}
            open={inputOpen}
            onToggle={() => setInputOpen((o) => !o)}
            onChange={onInputChange}
          />
          <FilesPane
            files={files}
            error={filesError}
            profile={profile}
            takesFiles={takesFiles}
            onAdd={(list) => void addFiles(list)}
            onRemove={(name) => {
              setFilesError(null);
              replaceFiles(filesRef.current.filter((f) => f.name !== name));
            }}
            onClear={() => {
              setFilesError(null);
              replaceFiles([]);
            }}
          />
          {dropping && (
            <div className="drop-overlay" aria-hidden>
              Drop to attach: written into the script's working directory
            </div>
          )}
        </div>
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
              onGotoInput={gotoInput}
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
