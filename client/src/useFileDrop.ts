import { type RefObject, useEffect, useState } from "react";

function carriesFiles(e: DragEvent): boolean {
  return Array.from(e.dataTransfer?.types ?? []).includes("Files");
}

/**
 * Makes the element a drop target for files (the editor column): a drag that
 * carries files is taken in the capture phase, before CodeMirror (which would
 * paste a dropped file's text into the script) sees it; text drags inside the
 * editor are left alone. Returns whether files are being dragged over it.
 */
export function useFileDrop(target: RefObject<HTMLElement | null>, onFiles: (files: File[]) => void): boolean {
  const [over, setOver] = useState(false);
  useEffect(() => {
    const el = target.current;
    if (!el) return;
    let depth = 0;
    const enter = (e: DragEvent) => {
      if (!carriesFiles(e)) return;
      e.preventDefault();
      e.stopPropagation();
      depth++;
      setOver(true);
    };
    const overFn = (e: DragEvent) => {
      if (!carriesFiles(e)) return;
      e.preventDefault();
      e.stopPropagation();
      if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
    };
    const leave = (e: DragEvent) => {
      if (!carriesFiles(e)) return;
      e.stopPropagation();
      depth = Math.max(0, depth - 1);
      if (depth === 0) setOver(false);
    };
    const drop = (e: DragEvent) => {
      if (!carriesFiles(e)) return;
      e.preventDefault();
      e.stopPropagation();
      depth = 0;
      setOver(false);
      const files = Array.from(e.dataTransfer?.files ?? []);
      if (files.length > 0) onFiles(files);
    };
    el.addEventListener("dragenter", enter, true);
    el.addEventListener("dragover", overFn, true);
    el.addEventListener("dragleave", leave, true);
    el.addEventListener("drop", drop, true);
    return () => {
      el.removeEventListener("dragenter", enter, true);
      el.removeEventListener("dragover", overFn, true);
      el.removeEventListener("dragleave", leave, true);
      el.removeEventListener("drop", drop, true);
    };
  }, [target, onFiles]);
  return over;
}
