package sandboxcore

import (
	"context"
	"testing"
	"time"
)

const helloScript = "def main():\n    print(\"Hello from IDE\")\n    return {\"status\": \"ok\"}\n"

// BenchmarkExecute measures one execution's latency on each executor, in
// the same run, and reports each as a ratio to the original design
// (ExecutorCold: NsJail plus a fresh Python that imports what the script
// needs). Run it with `make bench`.
//
// Only the Execute call is timed. Before each warm-pool execution the
// benchmark waits, untimed, for a jail to be ready: this measures latency
// with capacity available; sustained throughput is the HTTP load test's job.
func BenchmarkExecute(b *testing.B) {
	for _, mode := range []Mode{ModeNamespaces, ModeChroot} {
		for _, sc := range []struct{ name, script string }{{"hello", helloScript}, {"pandas", pandasScript}} {
			b.Run(string(mode)+"/"+sc.name, func(b *testing.B) {
				sandboxes := map[ExecutorKind]*Sandbox{}
				for _, e := range []ExecutorKind{ExecutorFork, ExecutorWarm, ExecutorCold} {
					sandboxes[e] = benchSandbox(b, mode, e)
				}
				total := map[ExecutorKind]time.Duration{}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					for e, s := range sandboxes {
						b.StopTimer()
						deadline := time.Now().Add(time.Minute)
						for s.Health().Pool.Warm < s.Health().Pool.WarmTarget && time.Now().Before(deadline) {
							time.Sleep(5 * time.Millisecond)
						}
						if e == ExecutorFork {
							b.StartTimer()
						}
						total[e] += timeExecution(b, s, sc.script)
					}
				}
				b.StopTimer()
				n := float64(b.N)
				for e, d := range total {
					b.ReportMetric(float64(d.Microseconds())/n/1000, string(e)+"-ms/op")
				}
				b.ReportMetric(float64(total[ExecutorCold])/float64(total[ExecutorFork]), "cold/fork")
				b.ReportMetric(float64(total[ExecutorCold])/float64(total[ExecutorWarm]), "cold/warm")
			})
		}
	}
}

func benchSandbox(b *testing.B, mode Mode, executor ExecutorKind) *Sandbox {
	b.Helper()
	cfg := testConfig(b, mode)
	cfg.Executor = executor
	cfg.WarmJails = 1
	s, err := New(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func timeExecution(b *testing.B, s *Sandbox, script string) time.Duration {
	start := time.Now()
	res, err := s.Execute(context.Background(), Request{Script: script})
	took := time.Since(start)
	if err != nil || res.Error != nil {
		b.Fatalf("execution failed: %v %+v", err, res.Error)
	}
	return took
}

// BenchmarkJobCgroups measures what per-job cgroups cost on the fork path
// (namespaces profile), against the same fork path without them, in the
// same run, interleaved: `make bench-cgroups`.
func BenchmarkJobCgroups(b *testing.B) {
	for _, sc := range []struct{ name, script string }{{"hello", helloScript}, {"pandas", pandasScript}} {
		b.Run(sc.name, func(b *testing.B) {
			with := benchSandbox(b, ModeNamespaces, ExecutorFork)
			cfg := testConfig(b, ModeNamespaces)
			cfg.Executor, cfg.WarmJails, cfg.JobCgroups = ExecutorFork, 1, false
			without, err := New(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = without.Close(context.Background()) })
			var tWith, tWithout time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, s := range []*Sandbox{with, without} {
					b.StopTimer()
					for s.Health().Pool.Warm < 1 {
						time.Sleep(5 * time.Millisecond)
					}
					b.StartTimer()
					d := timeExecution(b, s, sc.script)
					if s == with {
						tWith += d
					} else {
						tWithout += d
					}
				}
			}
			b.StopTimer()
			n := float64(b.N)
			b.ReportMetric(float64(tWith.Microseconds())/n/1000, "with-ms/op")
			b.ReportMetric(float64(tWithout.Microseconds())/n/1000, "without-ms/op")
			b.ReportMetric(float64(tWith)/float64(tWithout), "with/without")
		})
	}
}
