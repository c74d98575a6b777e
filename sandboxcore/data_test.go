package sandboxcore

// Data in, data out: main(input), the scientific stack's values as JSON,
// fresh randomness in every execution, and what each run used. Every test
// runs in all four setups.

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestInput(t *testing.T) {
	eachProfile(t, func(t *testing.T, s *Sandbox) {
		in := json.RawMessage(`{"xs": [1, 2, 3], "name": "é"}`)
		wantOK(t, execute(t, s, Request{Input: in, Script: "def main(data):\n    return {'sum': sum(data['xs']), 'name': data['name']}\n"}),
			map[string]any{"sum": 6, "name": "é"})
		wantOK(t, execute(t, s, Request{Input: json.RawMessage(`null`), Script: "def main(x):\n    return x is None\n"}), true)
		wantOK(t, execute(t, s, Request{Script: "def main(x=5):\n    return x\n"}), 5)
		wantOK(t, execute(t, s, Request{Input: json.RawMessage(`7`), Script: "def main(*args):\n    return args[0]\n"}), 7)

		res := execute(t, s, Request{Input: json.RawMessage(`1`), Script: "def main():\n    return 1\n"})
		wantCode(t, res, CodeInvalidRequest)
		if !strings.Contains(res.Error.Message, "main() takes no parameter") {
			t.Errorf("input to a main() without parameters: %q", res.Error.Message)
		}
		res = execute(t, s, Request{Script: "def main(rows):\n    return 1\n"})
		wantCode(t, res, CodeInvalidRequest)
		if !strings.Contains(res.Error.Message, `requires a parameter (rows)`) {
			t.Errorf("no input to main(rows): %q", res.Error.Message)
		}
		res = execute(t, s, Request{Input: json.RawMessage(`{"a":`), Script: "def main(x):\n    return 1\n"})
		wantCode(t, res, CodeInvalidRequest)
		res = execute(t, s, Request{Input: json.RawMessage(`"` + strings.Repeat("x", s.cfg.Max.InputBytes) + `"`), Script: "def main(x):\n    return 1\n"})
		wantCode(t, res, CodeInputTooLarge)
	})
}

func TestScientificValuesAsJSON(t *testing.T) {
	eachProfile(t, func(t *testing.T, s *Sandbox) {
		res := run(t, s, `import datetime as dt
import numpy as np
import pandas as pd
def main():
    df = pd.DataFrame({"a": [1, 2, None], "b": ["x", "y", "z"], "t": pd.to_datetime(["2024-01-02", None, "2024-03-04"])})
    aware = pd.DataFrame({"t": pd.to_datetime(["2024-01-02 10:00"]).tz_localize("Europe/Paris")})
    s = pd.Series([1.5, float("nan")], index=pd.to_datetime(["2024-01-01", "2024-01-02"]))
    return {
        "int64": df["a"].sum(), "f32": np.float32(1.5), "bool": np.bool_(True), "arange": np.arange(3),
        "matrix": np.array([[1.0, np.nan], [np.inf, 2.0]]), "records": df, "series": s,
        "index": pd.Index(["p", "q"]), "date": dt.date(2024, 5, 6), "time": dt.time(7, 8, 9),
        "aware": dt.datetime(2024, 5, 6, 7, 8, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        "ts": pd.Timestamp("2024-05-06 07:08", tz="UTC"), "nat": pd.NaT, "na": pd.NA,
        "aware_frame": aware, "keys": {np.int64(3): "three"},
    }
`)
		m := resultMap(t, res)
		want := map[string]string{
			"int64": `3`, "f32": `1.5`, "bool": `true`, "arange": `[0,1,2]`, "matrix": `[[1,null],[null,2]]`,
			"records": `[{"a":1,"b":"x","t":"2024-01-02T00:00:00.000"},{"a":2,"b":"y","t":null},{"a":null,"b":"z","t":"2024-03-04T00:00:00.000"}]`,
			"series":  `{"2024-01-01T00:00:00":1.5,"2024-01-02T00:00:00":null}`,
			"index":   `["p","q"]`, "date": `"2024-05-06"`, "time": `"07:08:09"`,
			"aware": `"2024-05-06T07:08:00+02:00"`, "ts": `"2024-05-06T07:08:00+00:00"`, "nat": `null`, "na": `null`,
			"aware_frame": `[{"t":"2024-01-02T10:00:00+01:00"}]`, "keys": `{"3":"three"}`,
		}
		for k, w := range want {
			got, _ := json.Marshal(m[k])
			var wv any
			_ = json.Unmarshal([]byte(w), &wv)
			wb, _ := json.Marshal(wv)
			if string(got) != string(wb) {
				t.Errorf("%s = %s, want %s", k, got, wb)
			}
		}
	})
}

// A DataFrame that cannot fit the result limit is refused before pandas
// writes it out.
func TestLargeDataFrameIsRefusedEarly(t *testing.T) {
	eachProfile(t, func(t *testing.T, s *Sandbox) {
		start := time.Now()
		res := execute(t, s, Request{Timeout: 30 * time.Second, MemoryMB: 1024, Script: fmt.Sprintf(`import numpy as np
import pandas as pd
def main():
    return pd.DataFrame(np.zeros((%d, 2)))
`, s.cfg.Default.ResultBytes)})
		wantCode(t, res, CodeResultTooLarge)
		if res.Error.Limit == nil || res.Error.Limit.Name != "result_bytes" {
			t.Errorf("limit = %+v", res.Error.Limit)
		}
		t.Logf("refused after %v", time.Since(start))
	})
}

// The same script, run again and again, draws new random values every
// time: no execution reuses the fork server's generator state.
func TestFreshRandomness(t *testing.T) {
	eachProfile(t, func(t *testing.T, s *Sandbox) {
		seen := map[string]string{}
		for i := 0; i < 4; i++ {
			m := resultMap(t, run(t, s, `import random, tempfile, uuid
import numpy as np
def main():
    return {
        "random": random.random(), "numpy": float(np.random.rand()),
        "default_rng": float(np.random.default_rng().random()), "uuid4": str(uuid.uuid4()),
        "tempfile": next(tempfile._get_candidate_names()),
    }
`))
			for k, v := range m {
				key := fmt.Sprint(v)
				if prev, ok := seen[k+key]; ok {
					t.Errorf("%s repeated %s (run %s and %d)", k, key, prev, i)
				}
				seen[k+key] = fmt.Sprint(i)
			}
		}
	})
}

func TestUsageAndLimitHit(t *testing.T) {
	eachProfile(t, func(t *testing.T, s *Sandbox) {
		res := run(t, s, "def main():\n    x = sum(range(3 * 10**6))\n    b = bytearray(64 << 20)\n    return len(b)\n")
		wantOK(t, res, 64<<20)
		if u := res.Usage; u == nil || u.CPUMs <= 0 || u.WallMs <= 0 || u.MaxRSSMB < 64 {
			t.Errorf("usage of a successful run: %+v", u)
		}
		res = execute(t, s, Request{Script: "def main():\n    while True:\n        pass\n", Timeout: time.Second})
		wantCode(t, res, CodeTimeout)
		if l := res.Error.Limit; l == nil || l.Name != "timeout_ms" || l.Value != 1000 {
			t.Errorf("timeout limit = %+v", l)
		}
		if u := res.Usage; u == nil || u.WallMs < 1000 {
			t.Errorf("usage of a timeout: %+v", u)
		}
		res = execute(t, s, Request{Script: "def main():\n    b = bytearray(1 << 30)\n", MemoryMB: 300})
		wantCode(t, res, CodeMemoryLimit)
		if l := res.Error.Limit; l == nil || l.Name != "memory_mb" || l.Value != 300 || !strings.Contains(res.Error.Message, "300") {
			t.Errorf("memory limit = %+v, %q", l, res.Error.Message)
		}
	})
}
