import { useEffect, useImperativeHandle, useRef, type Ref } from "react";
import { EditorState, RangeSet, StateEffect, StateField } from "@codemirror/state";
import {
  Decoration,
  type DecorationSet,
  drawSelection,
  EditorView,
  gutter,
  GutterMarker,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  keymap,
  lineNumbers,
} from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { bracketMatching, indentOnInput, indentUnit, syntaxHighlighting } from "@codemirror/language";
import { closeBrackets, closeBracketsKeymap } from "@codemirror/autocomplete";
import { python } from "@codemirror/lang-python";
import { classHighlighter } from "@lezer/highlight";

export interface EditorHandle {
  getDoc(): string;
  /** Replaces the text as one undoable change. */
  setDoc(text: string): void;
  focus(): void;
  /** Marks (or, with null, clears) the line an error points at. */
  markError(line: number | null, message?: string): void;
  gotoLine(line: number): void;
}

interface MarkedError {
  line: number;
  message: string;
}

const setError = StateEffect.define<MarkedError | null>();

class ErrorMarker extends GutterMarker {
  constructor(readonly message: string) {
    super();
  }
  eq(other: ErrorMarker) {
    return other.message === this.message;
  }
  toDOM() {
    const el = document.createElement("span");
    el.textContent = "●";
    if (this.message === "") {
      // The gutter's width spacer, never shown.
      el.className = "cm-error-spacer";
      return el;
    }
    el.className = "cm-error-marker";
    el.title = this.message;
    el.setAttribute("aria-label", `Error: ${this.message}`);
    return el;
  }
}

// The error mark lives in the editor state so it moves with edits until the
// user changes the text; any edit clears it, since the line may be fixed.
const errorField = StateField.define<{ err: MarkedError | null; deco: DecorationSet }>({
  create: () => ({ err: null, deco: Decoration.none }),
  update(value, tr) {
    for (const e of tr.effects) {
      if (e.is(setError)) {
        if (e.value === null || e.value.line > tr.state.doc.lines) return { err: null, deco: Decoration.none };
        const line = tr.state.doc.line(e.value.line);
        return {
          err: e.value,
          deco: Decoration.set([Decoration.line({ class: "cm-error-line", attributes: { "data-error-line": String(e.value.line) } }).range(line.from)]),
        };
      }
    }
    if (tr.docChanged && value.err) return { err: null, deco: Decoration.none };
    return value;
  },
  provide: (f) => EditorView.decorations.from(f, (v) => v.deco),
});

const errorGutter = gutter({
  class: "cm-error-gutter",
  markers: (view) => {
    const { err } = view.state.field(errorField);
    if (!err || err.line > view.state.doc.lines) return RangeSet.empty;
    return RangeSet.of([new ErrorMarker(err.message).range(view.state.doc.line(err.line).from)]);
  },
  initialSpacer: () => new ErrorMarker(""),
});

// Colours come from CSS variables so both themes restyle the editor without
// reconfiguring it.
const baseTheme = EditorView.theme({
  "&": { height: "100%", fontSize: "14px", backgroundColor: "var(--editor-bg)", color: "var(--text)" },
  ".cm-scroller": { fontFamily: "var(--mono)", lineHeight: "1.55" },
  ".cm-content": { caretColor: "var(--text)", padding: "8px 0" },
  ".cm-gutters": { backgroundColor: "var(--editor-gutter-bg)", color: "var(--muted)", border: "none", borderRight: "1px solid var(--border)" },
  ".cm-activeLine": { backgroundColor: "var(--editor-active-line)" },
  ".cm-activeLineGutter": { backgroundColor: "var(--editor-active-line)", color: "var(--text)" },
  ".cm-cursor, .cm-dropCursor": { borderLeftColor: "var(--text)" },
  "&.cm-focused .cm-selectionBackground, .cm-selectionBackground, ::selection": { backgroundColor: "var(--editor-selection) !important" },
  "&.cm-focused .cm-matchingBracket": { backgroundColor: "var(--editor-bracket)", outline: "1px solid var(--accent)" },
  "&.cm-focused .cm-nonmatchingBracket": { backgroundColor: "var(--error-bg)" },
  "&.cm-focused": { outline: "none" },
});

export function Editor(props: {
  initial: string;
  onChange(doc: string): void;
  onRun(): void;
  ref?: Ref<EditorHandle>;
}) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const onChange = useRef(props.onChange);
  onChange.current = props.onChange;
  const onRun = useRef(props.onRun);
  onRun.current = props.onRun;

  useEffect(() => {
    const v = new EditorView({
      parent: host.current!,
      state: EditorState.create({
        doc: props.initial,
        extensions: [
          errorGutter,
          lineNumbers(),
          highlightActiveLineGutter(),
          highlightSpecialChars(),
          history(),
          drawSelection(),
          indentOnInput(),
          bracketMatching(),
          closeBrackets(),
          highlightActiveLine(),
          EditorState.tabSize.of(4),
          indentUnit.of("    "),
          keymap.of([
            { key: "Mod-Enter", run: () => (onRun.current(), true) },
            ...closeBracketsKeymap,
            ...defaultKeymap,
            ...historyKeymap,
            indentWithTab,
          ]),
          python(),
          syntaxHighlighting(classHighlighter),
          errorField,
          baseTheme,
          EditorView.contentAttributes.of({ "aria-label": "Python script (Tab indents; press Escape then Tab to leave)" }),
          EditorView.updateListener.of((u) => {
            if (u.docChanged) onChange.current(u.state.doc.toString());
          }),
        ],
      }),
    });
    view.current = v;
    return () => {
      v.destroy();
      view.current = null;
    };
    // The editor owns its document after creation; `initial` is read once.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useImperativeHandle(props.ref, () => ({
    getDoc: () => view.current?.state.doc.toString() ?? "",
    setDoc(text) {
      const v = view.current;
      if (!v) return;
      v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: text }, selection: { anchor: 0 }, scrollIntoView: true });
    },
    focus: () => view.current?.focus(),
    markError(line, message = "") {
      const v = view.current;
      if (!v) return;
      const effects: StateEffect<unknown>[] = [setError.of(line === null ? null : { line, message })];
      if (line !== null && line <= v.state.doc.lines) {
        effects.push(EditorView.scrollIntoView(v.state.doc.line(line).from, { y: "center" }));
      }
      v.dispatch({ effects });
    },
    gotoLine(line) {
      const v = view.current;
      if (!v || line < 1 || line > v.state.doc.lines) return;
      const pos = v.state.doc.line(line).from;
      v.dispatch({ selection: { anchor: pos }, effects: EditorView.scrollIntoView(pos, { y: "center" }) });
      v.focus();
    },
  }));

  return <div className="editor-host" ref={host} />;
}
