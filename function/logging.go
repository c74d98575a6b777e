package function

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"python-api/sandboxcore"
)

// NewLogger returns a JSON logger whose lines Cloud Logging parses as
// structured entries: "severity" and "message" instead of slog's "level"
// and "msg".
func NewLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.MessageKey:
				a.Key = "message"
			case slog.LevelKey:
				a.Key = "severity"
				a.Value = slog.StringValue(severity(a.Value.Any().(slog.Level)))
			}
			return a
		},
	}))
}

func severity(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARNING"
	case l >= slog.LevelInfo:
		return "INFO"
	default:
		return "DEBUG"
	}
}

// trace is the request's Cloud Trace context, if any.
type trace struct {
	traceID, spanID string
	sampled         bool
}

var (
	cloudTraceRe  = regexp.MustCompile(`^([0-9a-fA-F]{32})(?:/([0-9]+))?(?:;o=([01]))?$`)
	traceparentRe = regexp.MustCompile(`^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$`)
)

// traceFrom reads X-Cloud-Trace-Context, or the W3C traceparent header
// that Cloud Run also sends. Malformed values are ignored: they come from
// the caller and must not break logging.
func traceFrom(h http.Header, projectID string) trace {
	if projectID == "" {
		return trace{}
	}
	if m := cloudTraceRe.FindStringSubmatch(h.Get("X-Cloud-Trace-Context")); m != nil {
		t := trace{traceID: strings.ToLower(m[1]), sampled: m[3] == "1"}
		// Cloud Logging wants the span as 16 hex digits; this header
		// carries it in decimal.
		if span, err := strconv.ParseUint(m[2], 10, 64); err == nil {
			t.spanID = fmt.Sprintf("%016x", span)
		}
		return t
	}
	if m := traceparentRe.FindStringSubmatch(h.Get("Traceparent")); m != nil {
		return trace{traceID: m[1], spanID: m[2], sampled: m[3] == "01"}
	}
	return trace{}
}

// execRecord collects what the per-execution log line says. It holds
// sizes and a digest, never the script or what it printed.
type execRecord struct {
	path        string // "http" or "pubsub"
	trace       trace
	status      int
	scriptBytes int
	scriptHash  string
	id          string
	messageID   string
	idRejected  bool
	duplicate   bool
}

func (r *execRecord) setScript(script string) {
	r.scriptBytes = len(script)
	r.scriptHash = sha256Hex([]byte(script))
}

// record writes the execution's log line and updates the metrics.
func (s *Service) record(ctx context.Context, rec *execRecord, res *sandboxcore.Result, d time.Duration) {
	code := outcome(res)
	s.metrics.observe(rec.path, code, d)
	if u := res.Usage; u != nil {
		s.metrics.cpu.WithLabelValues(rec.path).Observe(u.CPUMs / 1000)
		s.metrics.peakMemory.WithLabelValues(rec.path).Observe(u.MaxRSSMB * (1 << 20))
	}

	level := slog.LevelInfo
	switch {
	case rec.status >= 500 && code != sandboxcore.CodeUnavailable:
		level = slog.LevelError
	case code == sandboxcore.CodeOverloaded || code == sandboxcore.CodeUnavailable:
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("path", rec.path),
		slog.String("code", string(code)),
		slog.Int("http_status", rec.status),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.Int("script_bytes", rec.scriptBytes),
		slog.Int("stdout_bytes", len(res.Stdout)),
		slog.Int("stderr_bytes", len(res.Stderr)),
		slog.Int("result_bytes", len(res.Result)),
	}
	if res.DurationMs > 0 {
		attrs = append(attrs, slog.Float64("sandbox_duration_ms", res.DurationMs))
	}
	if u := res.Usage; u != nil {
		attrs = append(attrs, slog.Float64("cpu_ms", u.CPUMs), slog.Float64("max_rss_mb", u.MaxRSSMB))
	}
	if res.Profile != "" {
		attrs = append(attrs, slog.String("profile", res.Profile))
	}
	if rec.scriptHash != "" {
		attrs = append(attrs, slog.String("script_sha256", rec.scriptHash))
	}
	if rec.path == "pubsub" {
		attrs = append(attrs, slog.String("id", rec.id), slog.String("message_id", rec.messageID))
		if rec.idRejected {
			attrs = append(attrs, slog.Bool("id_rejected", true))
		}
		if rec.duplicate {
			attrs = append(attrs, slog.Bool("duplicate", true))
		}
	}
	if rec.trace.traceID != "" {
		attrs = append(attrs,
			slog.String("logging.googleapis.com/trace", "projects/"+s.projectID+"/traces/"+rec.trace.traceID),
			slog.Bool("logging.googleapis.com/trace_sampled", rec.trace.sampled))
		if rec.trace.spanID != "" {
			attrs = append(attrs, slog.String("logging.googleapis.com/spanId", rec.trace.spanID))
		}
	}
	// The request may be gone (client left); the line is still wanted.
	s.log.LogAttrs(context.WithoutCancel(ctx), level, "execution", attrs...)
}
