export interface Example {
  id: string;
  label: string;
  script: string;
  /** The Input (JSON) pane's text; absent means no input (the pane is cleared). */
  input?: string;
}

// The seed's three examples, a pandas one, one that reads its input, one
// that reads an attached file and writes one back, and a matplotlib plot.
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
  {
    id: "csv-summary",
    label: "Summarise an uploaded CSV",
    script: [
      "# Attach a CSV named data.csv first (Files → Add files, or drop",
      "# it on the editor): it lands in the working directory. What the",
      "# script leaves in outputs/ comes back as files.",
      "import os",
      "",
      "import pandas as pd",
      "",
      "",
      "def main():",
      '    if not os.path.exists("data.csv"):',
      '        raise FileNotFoundError("attach data.csv: Files → Add files")',
      '    df = pd.read_csv("data.csv")',
      "    summary = df.describe()",
      '    summary.to_csv("outputs/summary.csv")',
      '    print(len(df), "rows, columns:", ", ".join(df.columns))',
      "    # A DataFrame comes back as records; keep each statistic's name.",
      '    return summary.reset_index(names="statistic")',
    ].join("\n"),
  },
  {
    id: "plot-sine",
    label: "Plot a sine wave",
    script: [
      "import matplotlib",
      "",
      'matplotlib.use("Agg")',
      "import matplotlib.pyplot as plt",
      "import numpy as np",
      "",
      "",
      "def main():",
      "    x = np.linspace(0, 2 * np.pi, 200)",
      "    y = np.sin(x)",
      "    plt.figure(figsize=(6, 3.5))",
      '    plt.plot(x, y, label="sin(x)")',
      '    plt.axhline(0, color="grey", linewidth=0.5)',
      '    plt.title("A sine wave")',
      "    plt.legend()",
      '    plt.savefig("outputs/sine.png", dpi=100)',
      "    plt.close()",
      '    return {"points": len(x), "max": round(float(y.max()), 4)}',
    ].join("\n"),
  },
];

export const helloScript = examples[0].script;
