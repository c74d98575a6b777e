import { useState } from "react";
import { examples } from "./examples";

/** The toolbar's "Examples…" menu: picking one hands its script to onPick and resets the menu. */
export function ExamplePicker({ onPick }: { onPick(script: string): void }) {
  const [example, setExample] = useState("");
  return (
    <>
      <label htmlFor="examples" className="visually-hidden">
        Load an example
      </label>
      <select
        id="examples"
        className="select"
        aria-label="Load an example script"
        value={example}
        onChange={(e) => {
          const ex = examples.find((x) => x.id === e.target.value);
          setExample("");
          if (!ex) return;
          onPick(ex.script);
        }}
      >
        <option value="">Examples…</option>
        {examples.map((ex) => (
          <option key={ex.id} value={ex.id}>
            {ex.label}
          </option>
        ))}
      </select>
    </>
  );
}
