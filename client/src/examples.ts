export interface Example {
  id: string;
  label: string;
  script: string;
  /** The Input (JSON) pane's text; absent means no input (the pane is cleared). */
  input?: string;
}

// The seed's three examples, a pandas one and one that reads its input.
// `hello` is what a new visitor sees.
export const examples: Example[] = [
  {
    id: "hello",
    label: "Hello (print + dict)",
    script: 'def main():\n    print("Hello from IDE")\n    return {"status": "ok"}',
  },
  {
    id: "numpy",
    label: "NumPy mean",
    script:
      "def main():\n    import numpy as np\n    arr = np.array([1, 2, 3, 4, 5])\n    return {\"mean\": float(np.mean(arr))}",
  },
  {
    id: "readonly",
    label: "Read-only filesystem (os.mkdir fails)",
    script: 'def main():\n    import os\n    os.mkdir("/should_fail")\n    return {"status": "created"}',
  },
  {
    id: "pandas",
    label: "pandas group-by",
    script: [
      "import pandas as pd",
      "",
      "",
      "def main():",
      "    df = pd.DataFrame({",
      '        "city": ["Paris", "Lyon", "Paris", "Nice", "Lyon"],',
      '        "sales": [120, 80, 95, 60, 40],',
      "    })",
      '    totals = df.groupby("city")["sales"].sum().sort_values(ascending=False)',
      '    print(df.describe().to_string())',
      '    return {"totals": totals.to_dict(), "rows": len(df)}',
    ].join("\n"),
  },
  {
    id: "input-sum",
    label: "Sum a list from the input",
    script: 'def main(data):\n    return {"total": sum(data["numbers"])}',
    input: '{"numbers": [1, 2, 3]}',
  },
];

export const helloScript = examples[0].script;
