import { useState } from "react";
import { type Example, examples } from "./examples";

/** The toolbar's "Examples…" menu: picking one hands it (script and input) to onPick and resets the menu. */
export function ExamplePicker({ onPick }: { onPick(example: Example): void }) {
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
          onPick(ex);
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
