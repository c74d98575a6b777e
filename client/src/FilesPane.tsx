import { useRef } from "react";
import { Paperclip, X } from "lucide-react";
import { type AttachedFile, INPUT_FILES_LIMIT_BYTES, MAX_INPUT_FILES } from "./api";
import { formatBytes } from "./format";

const LIMIT_MIB = INPUT_FILES_LIMIT_BYTES / 1024 / 1024;

/**
 * The "Files" area under the Input (JSON) pane: files attached here are sent
 * in the request's `files` and written into the script's working directory
 * before main() runs. "Add files" opens the file chooser; files can also be
 * dropped on the editor or here (see useFileDrop). Contents are held in
 * memory only, never in localStorage, so they do not survive a reload.
 */
export function FilesPane(props: {
  files: readonly AttachedFile[];
  /** Why the last addition was refused or failed, if it was. */
  error: string | null;
  /** The active sandbox profile, from /healthz. */
  profile?: string;
  /** From /healthz `files`: false where jobs have no working directory. */
  takesFiles: boolean;
  onAdd(files: File[]): void;
  onRemove(name: string): void;
  onClear(): void;
}) {
  const { files, error } = props;
  const picker = useRef<HTMLInputElement>(null);
  const total = files.reduce((n, f) => n + f.size, 0);

  return (
    <section className="files-pane" aria-labelledby="files-h" data-testid="files-pane">
      <div className="pane-head files-head">
        <h2 id="files-h">Files</h2>
        <span className="small muted files-total" data-testid="files-total">
          {files.length === 0
            ? "none attached"
            : `${files.length} ${files.length === 1 ? "file" : "files"} · ${formatBytes(total)} of ${LIMIT_MIB} MiB`}
        </span>
        {files.length > 0 && (
          <button type="button" className="btn btn-small" onClick={props.onClear} aria-label="Remove all attached files">
            Clear
          </button>
        )}
        <button
          type="button"
          className="btn btn-small"
          onClick={() => picker.current?.click()}
          aria-label="Add files to the script's working directory"
          data-testid="files-add"
        >
          <Paperclip size={14} aria-hidden /> Add files
        </button>
        <input
          ref={picker}
          type="file"
          multiple
          hidden
          aria-label="Files to attach"
          data-testid="files-input"
          onChange={(e) => {
            const list = Array.from(e.currentTarget.files ?? []);
            // Cleared so choosing the same file again fires another change.
            e.currentTarget.value = "";
            if (list.length > 0) props.onAdd(list);
          }}
        />
      </div>
      <div className="files-body">
        {files.length > 0 && (
          <ul className="file-list" aria-label="Attached files">
            {files.map((f) => (
              <li key={f.name} className="file-item" data-testid="attached-file" data-name={f.name}>
                <code className="file-name" title={f.name}>
                  {f.name}
                </code>
                <span className="small muted file-size">{formatBytes(f.size)}</span>
                <button type="button" className="icon-btn icon-btn-small" onClick={() => props.onRemove(f.name)} aria-label={`Remove ${f.name}`} title="Remove">
                  <X size={14} aria-hidden />
                </button>
              </li>
            ))}
          </ul>
        )}
        {error && (
          <p className="field-error files-error" role="alert" data-testid="files-error">
            {error}
          </p>
        )}
        {!props.takesFiles && files.length > 0 && (
          <p className="field-error files-error" data-testid="files-profile">
            This server's {props.profile ?? "sandbox"} profile has no working directory for a job and refuses
            requests with files: remove them to run.
          </p>
        )}
        <p className="help files-help">
          <span className="files-help-long">
            Written into the script's working directory (<code>pd.read_csv("data.csv")</code>); what it leaves in{" "}
            <code>outputs/</code> comes back. Drop files on the editor or here.{" "}
          </span>
          At most {MAX_INPUT_FILES} files, {LIMIT_MIB} MiB in all; not kept across reloads.
        </p>
      </div>
    </section>
  );
}
