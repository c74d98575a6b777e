# Benchmark of the harness's result encoding (sandboxcore/harness/encode.py)
# against the baselines the rules promise to stay near, measured in the
# same run: json.dumps for plain values, DataFrame.to_json for frames.
# Run by `make bench-encode` inside the runtime tree, after encode.py.
import json
import os
import sys
import time

import numpy as np
import pandas as pd

_dumps = json.dumps


def best(fn, repeat=7):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


plain = {"rows": [{"id": i, "name": "n%d" % i, "score": i * 0.5, "tags": ["a", "b"]} for i in range(20000)]}
df = pd.DataFrame({
    "id": np.arange(100_000),
    "x": np.random.default_rng(1).random(100_000),
    "name": ["n%d" % i for i in range(100_000)],
    "t": pd.date_range("2024-01-01", periods=100_000, freq="min"),
    "flag": np.arange(100_000) % 2 == 0,
})

rows = []
base = best(lambda: _dumps(plain, allow_nan=False, ensure_ascii=True))
ours = best(lambda: _Encoder(0).encode(plain))
rows.append(("plain dict (20,000 records)", base, ours, "json.dumps"))
base = best(lambda: df.to_json(orient="records", date_format="iso"), 5)
ours = best(lambda: _Encoder(0).encode(df), 5)
rows.append(("DataFrame 100,000 x 5", base, ours, "df.to_json(records)"))

print("| value | baseline | baseline ms | encoder ms | ratio |")
print("|---|---|---:|---:|---:|")
for name, b, o, what in rows:
    print("| %s | %s | %.1f | %.1f | %.2f× |" % (name, what, b * 1000, o * 1000, o / b))
