package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"python-api/internal/loadgen"
)

func TestNewCellCountsEveryNon200AsError(t *testing.T) {
	rep := loadgen.Report{Clients: 2, Elapsed: 10 * time.Second, Requests: 107,
		ByStatus: map[int]int{200: 100, 429: 3, 500: 1}, Errors: 3, Throughput: 10,
		P50: 1500 * time.Microsecond, P99: 9 * time.Millisecond}
	c := newCell("", "fork", "hello", rep)
	if c.Errors != 7 {
		t.Errorf("errors %d, want 7 (3 transport + 429 + 500 + ...)", c.Errors)
	}
	if c.P50Ms != 1.5 || c.P99Ms != 9 || c.ExecPerSec != 10 || c.ElapsedS != 10 {
		t.Errorf("cell %+v", c)
	}
}

func TestFillRatios(t *testing.T) {
	cells := []Cell{
		{Executor: "fork", Script: "hello", Clients: 1, ExecPerSec: 300, P50Ms: 3},
		{Executor: "fork", Script: "pandas", Clients: 1, ExecPerSec: 100, P50Ms: 10},
		{Executor: "warm", Script: "pandas", Clients: 1, ExecPerSec: 5, P50Ms: 0},
		{Executor: "cold", Script: "hello", Clients: 1, ExecPerSec: 40, P50Ms: 25},
		{Executor: "cold", Script: "pandas", Clients: 1, ExecPerSec: 4, P50Ms: 250},
		{Executor: "fork", Script: "other", Clients: 1}, // no baseline for this script
		{Executor: "fork", Script: "pandas", Clients: 2, ExecPerSec: 150, P50Ms: 13},
		{Executor: "cold", Script: "pandas", Clients: 2, ExecPerSec: 6, P50Ms: 300},
		{Executor: "fork", Script: "hello", Clients: 2}, // cold hello ran with 1 client only
	}
	fillRatios(cells)
	want := []struct{ tput, p50 float64 }{
		{7.5, 0.12}, {25, 0.04}, {1.25, 0}, {1, 1}, {1, 1}, {math.NaN(), math.NaN()},
		{25, 13.0 / 300}, {1, 1}, {math.NaN(), math.NaN()},
	}
	for i, w := range want {
		c := cells[i]
		cell := c.Executor + "/" + c.Script
		wantRatio(t, cell+" throughput ratio", c.ThroughputVsCold, w.tput)
		wantRatio(t, cell+" p50 ratio", c.P50VsCold, w.p50)
	}
}

// wantRatio checks one ratio of a cell; a NaN want means no ratio.
func wantRatio(t *testing.T, what string, got *float64, want float64) {
	t.Helper()
	switch {
	case math.IsNaN(want) && got != nil:
		t.Errorf("%s = %v, want none", what, *got)
	case !math.IsNaN(want) && got == nil:
		t.Errorf("%s missing, want %v", what, want)
	case got != nil && math.Abs(*got-want) > 1e-9:
		t.Errorf("%s = %v, want %v", what, *got, want)
	}
}

func TestFillRatiosZeroBaselineGivesNoRatio(t *testing.T) {
	cells := []Cell{
		{Executor: "fork", Script: "hello", ExecPerSec: 10, P50Ms: 3},
		{Executor: "cold", Script: "hello"}, // nothing succeeded
	}
	fillRatios(cells)
	if cells[0].ThroughputVsCold != nil || cells[0].P50VsCold != nil {
		t.Errorf("ratios to a zero baseline: %v %v", cells[0].ThroughputVsCold, cells[0].P50VsCold)
	}
}

func TestCheckTargets(t *testing.T) {
	targets := []Target{
		{Name: "p50", Executor: "fork", Script: "pandas", Clients: 1, Metric: "p50_ms", Limit: 10},
		{Name: "tput", Executor: "fork", Script: "pandas", Clients: 0, Metric: "exec_per_s", Limit: 100, AtLeast: true},
		{Name: "hello", Executor: "fork", Script: "hello", Clients: 1, Metric: "p50_ms", Limit: 5},
		{Name: "absent", Executor: "fork", Script: "numpy", Clients: 1, Metric: "p50_ms", Limit: 5},
	}
	for _, tc := range []struct {
		name  string
		cells []Cell
		met   []bool
	}{
		{"all met, limits inclusive", []Cell{
			{Executor: "fork", Script: "pandas", Clients: 1, Requests: 10, P50Ms: 10, ExecPerSec: 100},
			{Executor: "fork", Script: "hello", Clients: 1, Requests: 10, P50Ms: 4.9},
		}, []bool{true, true, true, false}},
		{"too slow", []Cell{
			{Executor: "fork", Script: "pandas", Clients: 1, Requests: 10, P50Ms: 10.01, ExecPerSec: 99.9},
			{Executor: "fork", Script: "hello", Clients: 1, Requests: 10, P50Ms: 5.5},
		}, []bool{false, false, false, false}},
		{"each target judged at its own load", []Cell{
			// fast at 1 client, throughput judged at the most clients
			{Executor: "fork", Script: "pandas", Clients: 1, Requests: 10, P50Ms: 7, ExecPerSec: 90},
			{Executor: "fork", Script: "pandas", Clients: 2, Requests: 10, P50Ms: 13, ExecPerSec: 150},
			{Executor: "fork", Script: "hello", Clients: 2, Requests: 10, P50Ms: 1}, // no 1-client cell
		}, []bool{true, true, false, false}},
		{"slow at 1 client fails whatever the others say", []Cell{
			{Executor: "fork", Script: "pandas", Clients: 1, Requests: 10, P50Ms: 11, ExecPerSec: 90},
			{Executor: "fork", Script: "pandas", Clients: 2, Requests: 10, P50Ms: 9, ExecPerSec: 99},
		}, []bool{false, false, false, false}},
		{"errors void a fast cell", []Cell{
			{Executor: "fork", Script: "pandas", Clients: 1, Requests: 10, Errors: 1, P50Ms: 1, ExecPerSec: 500},
			{Executor: "cold", Script: "hello", Clients: 1, Requests: 10, P50Ms: 1},
		}, []bool{false, false, false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := checkTargets(targets, tc.cells)
			for i, g := range got {
				if g.Met != tc.met[i] {
					t.Errorf("%s: met=%v, want %v (%+v)", g.Name, g.Met, tc.met[i], g)
				}
			}
			if got[3].Measured {
				t.Errorf("a target without a cell is reported measured")
			}
			if targets[0].Measured || targets[0].Value != 0 {
				t.Errorf("checkTargets changed its input")
			}
		})
	}
}

func TestWriteTable(t *testing.T) {
	cells := []Cell{
		{Executor: "fork", Script: "pandas", Clients: 2, Requests: 1500, ExecPerSec: 100, P50Ms: 9.5, P99Ms: 20,
			Server: ServerTimes{Lines: 1500, HandlerP50Ms: 9, SandboxP50Ms: 8.5}},
		{Executor: "cold", Script: "pandas", Clients: 2, Requests: 60, Errors: 2, ExecPerSec: 4, P50Ms: 250, P99Ms: 300},
		{Executor: "warm", Script: "hello", Clients: 1, Requests: 1, ExecPerSec: 1, P50Ms: 1, P99Ms: 1},
	}
	fillRatios(cells)
	wantWritten(t, func(b *bytes.Buffer) error { return writeTable(b, cells) },
		"executor  script  clients  requests  errors  exec/s  p50 ms  p99 ms  exec/s vs (c)  p50 vs (c)",
		"(a) fork  pandas        2      1500       0   100.0    9.50   20.00         25.00x       0.04x",
		"(c) cold  pandas        2        60       2     4.0  250.00  300.00          1.00x       1.00x",
		"(b) warm   hello        1         1       0     1.0    1.00    1.00              -           -",
		// HTTP+proxy is the client's p50 minus the handler's.
		"(a) fork  pandas        2        9.50         9.00         8.50             0.50        0.50                 0.0               0.0",
	)
}

// wantWritten checks that what write writes holds every one of want.
func wantWritten(t *testing.T, write func(*bytes.Buffer) error, want ...string) {
	t.Helper()
	var b bytes.Buffer
	if err := write(&b); err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		if !strings.Contains(b.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, b.String())
		}
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1}, 1}, {[]float64{9, 1, 5}, 5}, {[]float64{4, 3, 2, 1}, 2},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestParseCounts(t *testing.T) {
	got, err := parseCounts(" 1, 0,,1 ")
	if err != nil || len(got) != 2 || got[0] != 1 || got[1] != 0 {
		t.Errorf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", " , ", "1,x", "-1", "257"} {
		if _, err := parseCounts(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseList(t *testing.T) {
	got, err := parseList(" cold, fork,,cold ", allExecutors)
	if err != nil || strings.Join(got, ",") != "cold,fork" {
		t.Errorf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", " , ", "fork,hot"} {
		if _, err := parseList(bad, allExecutors); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestWriteTargets(t *testing.T) {
	var b bytes.Buffer
	writeTargets(&b, "issue 6 targets (fast path, 2 cores)", []Target{
		{Name: "a", Measured: true, AtCount: 1, Value: 4.5, Met: true},
		{Name: "b", Measured: true, AtCount: 2, Value: 54.65},
		{Name: "c"},
	})
	for _, want := range []string{"a                       1 clients  measured     4.50  met\n", "b                       2 clients  measured    54.65  NOT MET\n", "c                      not measured\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("lacks %q:\n%s", want, b.String())
		}
	}
}
