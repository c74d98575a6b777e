package sandboxcore

import (
	"context"
	"testing"
	"time"
)

const helloScript = "def main():\n    print(\"Hello from IDE\")\n    return {\"status\": \"ok\"}\n"

// BenchmarkExecute measures one execution's latency with a warm jail (the
// pool path) against a cold one (NsJail plus a fresh Python that imports
// what the script needs: the original design), in the same run, and reports
// the ratio. Run it with `make bench`.
//
// Only the Execute call is timed: before each warm execution the benchmark
// waits, untimed, for the pool to have a jail ready, because sustained
// throughput is the job of the HTTP load test, not of this benchmark.
func BenchmarkExecute(b *testing.B) {
	for _, mode := range []Mode{ModeNamespaces, ModeChroot} {
		for _, sc := range []struct{ name, script string }{{"hello", helloScript}, {"pandas", pandasScript}} {
			b.Run(string(mode)+"/"+sc.name, func(b *testing.B) {
				warm := benchSandbox(b, mode, 1)
				cold := benchSandbox(b, mode, 0)
				var warmTotal, coldTotal time.Duration
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					deadline := time.Now().Add(time.Minute)
					for warm.Health().Pool.Warm < 1 && time.Now().Before(deadline) {
						time.Sleep(5 * time.Millisecond)
					}
					b.StartTimer()
					warmTotal += timeExecution(b, warm, sc.script)
					b.StopTimer()
					coldTotal += timeExecution(b, cold, sc.script)
					b.StartTimer()
				}
				n := float64(b.N)
				b.ReportMetric(float64(warmTotal.Microseconds())/n/1000, "warm-ms/op")
				b.ReportMetric(float64(coldTotal.Microseconds())/n/1000, "cold-ms/op")
				b.ReportMetric(float64(coldTotal)/float64(warmTotal), "cold/warm")
			})
		}
	}
}

func benchSandbox(b *testing.B, mode Mode, warm int) *Sandbox {
	b.Helper()
	cfg := testConfig(b, mode)
	cfg.WarmJails = warm
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
