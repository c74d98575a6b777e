import { useEffect, useRef } from "react";
import { X } from "lucide-react";
import { CopyButton } from "./CopyButton";

export function CurlDialog(props: { open: boolean; command: string; onClose(): void }) {
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
