package function

import (
	"fmt"
	"net/http"
	"time"

	"python-api/sandboxcore"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type metrics struct {
	executions *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	cpu        *prometheus.HistogramVec
	peakMemory *prometheus.HistogramVec
	duplicates prometheus.Counter
}

func newMetrics(reg *prometheus.Registry, exec sandboxcore.Executor) (*metrics, error) {
	m := &metrics{
		executions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "python_api_executions_total",
			Help: "Requests to run a script, by entry path (http, pubsub) and outcome code (ok for success).",
		}, []string{"path", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "python_api_execution_duration_seconds",
			Help:    "Time from request to answer, by entry path.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"path"}),
		cpu: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "python_api_execution_cpu_seconds",
			Help:    "CPU time each execution's job used (user plus system), by entry path.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"path"}),
		peakMemory: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "python_api_execution_peak_memory_bytes",
			Help:    "Peak resident memory of each execution's largest process, by entry path.",
			Buckets: prometheus.ExponentialBuckets(16<<20, 2, 9), // 16 MiB .. 4 GiB
		}, []string{"path"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "python_api_batch_duplicates_total",
			Help: "Batch deliveries skipped because their result object already existed.",
		}),
	}
	for _, c := range []prometheus.Collector{
		m.executions, m.duration, m.cpu, m.peakMemory, m.duplicates, poolCollector{exec},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) observe(path string, code sandboxcore.Code, d time.Duration) {
	m.executions.WithLabelValues(path, string(code)).Inc()
	m.duration.WithLabelValues(path).Observe(d.Seconds())
}

// MetricsHandler serves GET /metrics from the service's own registry.
func (s *Service) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg})
}

// poolCollector reads the pool's state at scrape time, so the gauges are
// never stale and the sandbox needs no metrics code.
type poolCollector struct{ exec sandboxcore.Executor }

var poolDescs = struct {
	slots, busy, queueCap, queued, warmTarget, warm, up *prometheus.Desc
}{
	slots:      prometheus.NewDesc("python_api_pool_slots", "Executions that may run at once.", nil, nil),
	busy:       prometheus.NewDesc("python_api_pool_busy", "Executions running now.", nil, nil),
	queueCap:   prometheus.NewDesc("python_api_pool_queue_capacity", "Requests that may wait for a slot.", nil, nil),
	queued:     prometheus.NewDesc("python_api_pool_queued", "Requests waiting for a slot now.", nil, nil),
	warmTarget: prometheus.NewDesc("python_api_pool_warm_target", "Pre-started jails the pool aims to keep.", nil, nil),
	warm:       prometheus.NewDesc("python_api_pool_warm", "Pre-started jails ready now.", nil, nil),
	up:         prometheus.NewDesc("python_api_sandbox_up", "1 when the sandbox reports itself healthy.", nil, nil),
}

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	d := poolDescs
	for _, x := range []*prometheus.Desc{d.slots, d.busy, d.queueCap, d.queued, d.warmTarget, d.warm, d.up} {
		ch <- x
	}
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	h := c.exec.Health()
	p, d := h.Pool, poolDescs
	gauge := func(desc *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(v))
	}
	gauge(d.slots, p.Slots)
	gauge(d.busy, p.Busy)
	gauge(d.queueCap, p.QueueCap)
	gauge(d.queued, p.Queued)
	gauge(d.warmTarget, p.WarmTarget)
	gauge(d.warm, p.Warm)
	up := 0
	if h.OK {
		up = 1
	}
	gauge(d.up, up)
}
