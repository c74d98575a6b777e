package function

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"python-api/sandboxcore"

	"github.com/prometheus/client_golang/prometheus"
)

func logLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

func TestExecutionLogLine(t *testing.T) {
	const secretScript = "def main():\n    print('STDOUT-MARKER-7731')\n    return 'SCRIPT-MARKER-9921'"
	exec := &fakeExec{fn: func(context.Context, sandboxcore.Request) (sandboxcore.Result, error) {
		return sandboxcore.Result{Result: json.RawMessage(`"RESULT-MARKER-5521"`), Stdout: "STDOUT-MARKER-7731\n",
			Stderr: "STDERR-MARKER", Profile: "namespaces"}, nil
	}}
	s, logs := newTestService(t, exec, func(o *Options) { o.ProjectID = "proj-1"; o.APIKeys = []string{"KEY-MARKER-4410"} })
	r := post(t, s.ExecuteHandler(), script(secretScript), map[string]string{
		"X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/10;o=1",
		"Authorization":         "Bearer KEY-MARKER-4410",
	})
	if r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	for _, marker := range []string{"SCRIPT-MARKER", "STDOUT-MARKER", "STDERR-MARKER", "RESULT-MARKER", "KEY-MARKER", "def main"} {
		if strings.Contains(logs.String(), marker) {
			t.Fatalf("log contains %s: %s", marker, logs.String())
		}
	}
	lines := logLines(t, logs.String())
	if len(lines) != 1 {
		t.Fatalf("want one line per execution, got %d: %s", len(lines), logs.String())
	}
	l := lines[0]
	want := map[string]any{
		"severity": "INFO", "message": "execution", "path": "http", "code": "ok", "http_status": 200.0,
		"script_bytes": float64(len(secretScript)), "stdout_bytes": 19.0, "stderr_bytes": 13.0, "result_bytes": 20.0,
		"script_sha256":                        sha256Hex([]byte(secretScript)),
		"logging.googleapis.com/trace":         "projects/proj-1/traces/105445aa7843bc8bf206b12000100000",
		"logging.googleapis.com/spanId":        "000000000000000a",
		"logging.googleapis.com/trace_sampled": true,
	}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("%s = %v (%T), want %v", k, l[k], l[k], v)
		}
	}
	for _, k := range []string{"time", "duration_ms"} {
		if _, ok := l[k]; !ok {
			t.Errorf("missing %s", k)
		}
	}
	for _, k := range []string{"level", "msg"} {
		if _, ok := l[k]; ok {
			t.Errorf("slog key %s not renamed", k)
		}
	}
}

func TestLogTraceFromTraceparentAndSeverities(t *testing.T) {
	exec := &fakeExec{fn: func(context.Context, sandboxcore.Request) (sandboxcore.Result, error) {
		return sandboxcore.Result{}, sandboxcore.ErrOverloaded
	}}
	s, logs := newTestService(t, exec, func(o *Options) { o.ProjectID = "p" })
	post(t, s.ExecuteHandler(), script(hello), map[string]string{"Traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
	post(t, s.ExecuteHandler(), script(hello), map[string]string{"X-Cloud-Trace-Context": "not a trace"})
	lines := logLines(t, logs.String())
	if len(lines) != 2 {
		t.Fatalf("lines: %s", logs.String())
	}
	if lines[0]["logging.googleapis.com/trace"] != "projects/p/traces/4bf92f3577b34da6a3ce929d0e0e4736" || lines[0]["severity"] != "WARNING" {
		t.Fatalf("traceparent line: %v", lines[0])
	}
	if _, ok := lines[1]["logging.googleapis.com/trace"]; ok {
		t.Fatalf("malformed trace header produced a trace: %v", lines[1])
	}

	exec.fn = func(context.Context, sandboxcore.Request) (sandboxcore.Result, error) {
		return sandboxcore.Result{}, context.DeadlineExceeded
	}
	logs.Reset()
	post(t, s.ExecuteHandler(), script(hello), nil)
	lines = logLines(t, logs.String())
	if lines[len(lines)-1]["severity"] != "ERROR" || lines[len(lines)-1]["code"] != "internal" {
		t.Fatalf("internal error line: %v", lines)
	}
}

func TestMetrics(t *testing.T) {
	exec := &fakeExec{health: sandboxcore.Health{OK: true, Pool: sandboxcore.PoolStats{Slots: 3, Busy: 1, QueueCap: 9, Queued: 2, WarmTarget: 3, Warm: 2}}}
	s, _ := newTestService(t, exec, nil)
	h := s.ExecuteHandler()
	post(t, h, script(hello), nil)
	post(t, h, script(hello), nil)
	post(t, h, `{"script":1}`, nil)
	exec.fn = func(context.Context, sandboxcore.Request) (sandboxcore.Result, error) {
		return errResult(sandboxcore.CodeTimeout), nil
	}
	post(t, h, script(hello), nil)

	counter := func(path, code string) float64 {
		mfs, err := s.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "python_api_executions_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				l := map[string]string{}
				for _, p := range m.GetLabel() {
					l[p.GetName()] = p.GetValue()
				}
				if l["path"] == path && l["code"] == code {
					return m.GetCounter().GetValue()
				}
			}
		}
		return 0
	}
	if counter("http", "ok") != 2 || counter("http", "invalid_request") != 1 || counter("http", "timeout") != 1 {
		t.Fatalf("counters: ok=%v invalid=%v timeout=%v", counter("http", "ok"), counter("http", "invalid_request"), counter("http", "timeout"))
	}

	rec := httptest.NewRecorder()
	s.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	text := rec.Body.String()
	for _, line := range []string{
		`python_api_executions_total{code="ok",path="http"} 2`,
		`python_api_execution_duration_seconds_count{path="http"} 4`,
		`python_api_execution_cpu_seconds_count{path="http"} 2`,
		`python_api_execution_cpu_seconds_sum{path="http"} 0.024`,
		`python_api_execution_peak_memory_bytes_bucket{path="http",le="1.34217728e+08"} 2`,
		"python_api_pool_slots 3", "python_api_pool_busy 1", "python_api_pool_queue_capacity 9",
		"python_api_pool_queued 2", "python_api_pool_warm 2", "python_api_pool_warm_target 3", "python_api_sandbox_up 1",
	} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	// Its own registry: nothing lands in the global default one.
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "python_api_") {
			t.Fatalf("%s registered globally", mf.GetName())
		}
	}
}
