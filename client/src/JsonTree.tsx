import { useState } from "react";
import { ChevronDown, ChevronRight } from "lucide-react";

// Big arrays and objects render in pages so a large result cannot freeze the tab.
const PAGE = 100;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function Primitive({ value }: { value: Json }) {
  if (value === null) return <span className="json-null">null</span>;
  switch (typeof value) {
    case "string":
      return <span className="json-string">{JSON.stringify(value)}</span>;
    case "number":
      return <span className="json-number">{String(value)}</span>;
    case "boolean":
      return <span className="json-boolean">{String(value)}</span>;
    default:
      return <span>{String(value)}</span>;
  }
}

function Key({ name }: { name: string | number | undefined }) {
  if (name === undefined) return null;
  return (
    <>
      {typeof name === "number" ? <span className="json-index">{name}</span> : <span className="json-key">{JSON.stringify(name)}</span>}
      <span className="json-punct">: </span>
    </>
  );
}

function Node({ name, value, depth }: { name?: string | number; value: Json; depth: number }) {
  const isArr = Array.isArray(value);
  const isObj = value !== null && typeof value === "object";
  const entries: [string | number, Json][] = !isObj
    ? []
    : isArr
      ? (value as Json[]).map((v, i) => [i, v])
      : Object.entries(value as Record<string, Json>);
  const [open, setOpen] = useState(depth < 3 && entries.length <= 50);
  const [shown, setShown] = useState(PAGE);

  if (!isObj) {
    return (
      <li className="json-row">
        <Key name={name} />
        <Primitive value={value} />
      </li>
    );
  }
  const [o, c] = isArr ? ["[", "]"] : ["{", "}"];
  const count = `${entries.length} ${isArr ? (entries.length === 1 ? "item" : "items") : entries.length === 1 ? "key" : "keys"}`;
  const label = `${open ? "Collapse" : "Expand"} ${name === undefined ? "result" : typeof name === "number" ? `item ${name}` : name} (${count})`;
  if (entries.length === 0) {
    return (
      <li className="json-row">
        <Key name={name} />
        <span className="json-punct">{o + c}</span>
      </li>
    );
  }
  return (
    <li className="json-row">
      <button type="button" className="json-toggle" aria-expanded={open} aria-label={label} onClick={() => setOpen(!open)}>
        {open ? <ChevronDown size={14} aria-hidden /> : <ChevronRight size={14} aria-hidden />}
      </button>
      <Key name={name} />
      <span className="json-punct">{o}</span>
      {!open && (
        <>
          <span className="json-summary"> {count} </span>
          <span className="json-punct">{c}</span>
        </>
      )}
      {open && (
        <>
          <ul className="json-children">
            {entries.slice(0, shown).map(([k, v]) => (
              <Node key={k} name={k} value={v} depth={depth + 1} />
            ))}
            {entries.length > shown && (
              <li>
                <button type="button" className="link-button" onClick={() => setShown(shown + PAGE)}>
                  Show {Math.min(PAGE, entries.length - shown)} more of {entries.length - shown} remaining
                </button>
              </li>
            )}
          </ul>
          <span className="json-punct">{c}</span>
        </>
      )}
    </li>
  );
}

export function JsonTree({ value }: { value: unknown }) {
  return (
    <ul className="json-tree" aria-label="Result as a tree">
      <Node value={value as Json} depth={0} />
    </ul>
  );
}
