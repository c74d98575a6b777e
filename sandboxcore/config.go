package sandboxcore

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Mode is the operator's choice of isolation profile.
type Mode string

const (
	ModeAuto       Mode = "auto"
	ModeNamespaces Mode = "namespaces"
	ModeChroot     Mode = "chroot"
)

// ExecutorKind chooses how a job gets its fresh jail.
type ExecutorKind string

const (
	// ExecutorFork forks each job from a zygote that has imported the
	// preload modules, giving the child fresh namespaces (the fast path).
	ExecutorFork ExecutorKind = "fork"
	// ExecutorWarm takes a pre-started single-use NsJail from a pool.
	ExecutorWarm ExecutorKind = "warm"
	// ExecutorCold starts NsJail and a fresh Python per request, without
	// preloading: the original design, kept as a baseline.
	ExecutorCold ExecutorKind = "cold"
)

// Limits bounds one execution. A zero field means "not set" in a request
// and is filled from the server default.
type Limits struct {
	Wall        time.Duration
	CPU         time.Duration
	MemoryMB    int
	Processes   int
	OpenFiles   int
	FileSizeMB  int
	TmpMB       int
	StdoutBytes int
	StderrBytes int
	ResultBytes int
	ScriptBytes int
	// InputBytes bounds a request's "input" (its JSON text).
	InputBytes int
	// Files in (the request's "files") and out (what the script leaves
	// in outputs/): how many, and how many bytes in all or per file.
	InputFiles       int
	InputFilesBytes  int
	OutputFiles      int
	OutputFileBytes  int
	OutputFilesBytes int
}

// fixTo copies the limits no request can ask to change (the sizes of a
// request's script, input and files, and of what comes back) from d, so
// that the maximum and the default are one number.
func (l *Limits) fixTo(d Limits) {
	l.ScriptBytes, l.InputBytes = d.ScriptBytes, d.InputBytes
	l.InputFiles, l.InputFilesBytes = d.InputFiles, d.InputFilesBytes
	l.OutputFiles, l.OutputFileBytes, l.OutputFilesBytes = d.OutputFiles, d.OutputFileBytes, d.OutputFilesBytes
}

// Config is the sandbox's server-side configuration.
type Config struct {
	Mode Mode
	// Rootfs is the runtime tree built by infra/build-rootfs.sh.
	Rootfs string
	// NsjailPath is NsJail as seen from the host; the chroot profile runs
	// the copy inside Rootfs instead.
	NsjailPath string

	// Default applies when a request sets nothing; Max bounds what a request
	// may ask for. BatchMaxWall replaces Max.Wall for batch executions.
	Default      Limits
	Max          Limits
	BatchMaxWall time.Duration

	// Slots is how many scripts run at once; QueueSize how many more may
	// wait for a slot before Execute answers ErrOverloaded.
	Slots     int
	QueueSize int
	// QueueWait bounds how long a request waits for a slot; BatchQueueWait
	// how long a batch request does (not counted against QueueSize).
	QueueWait      time.Duration
	BatchQueueWait time.Duration
	// WarmJails is how many pre-started jails, with Preload imported, are
	// kept ready. Zero disables the pool: every execution starts cold.
	WarmJails int
	Preload   []string

	// Executor: fork (default), warm or cold. ZygoteMaxForks and
	// ZygoteMaxAge bound one fork server's life.
	Executor       ExecutorKind
	ZygoteMaxForks int
	ZygoteMaxAge   time.Duration

	// JobUIDBase is the first of the host uids handed to jails, one per
	// live jail, so no two jobs ever share a uid.
	JobUIDBase int

	// JobCgroups gives every job memory and pids cgroups of its own where
	// the host allows (SANDBOX_JOB_CGROUPS=off turns them off, as on a host
	// without them: jobs then get threads only).
	JobCgroups bool

	// Logger gets the operator's events: a fork server replaced because it
	// could not set jobs up, a uid still in use after its job. Nil
	// discards them.
	Logger *slog.Logger
}

// DefaultConfig is the configuration with nothing set in the environment.
func DefaultConfig() Config {
	slots := max(runtime.NumCPU(), 1)
	def := Limits{
		Wall:             10 * time.Second,
		CPU:              10 * time.Second,
		MemoryMB:         512,
		Processes:        32,
		OpenFiles:        256,
		FileSizeMB:       64,
		TmpMB:            64,
		StdoutBytes:      1 << 20,
		StderrBytes:      1 << 20,
		ResultBytes:      10 << 20,
		ScriptBytes:      1 << 20,
		InputBytes:       4 << 20,
		InputFiles:       100,
		InputFilesBytes:  16 << 20,
		OutputFiles:      100,
		OutputFileBytes:  8 << 20,
		OutputFilesBytes: 32 << 20,
	}
	maxL := Limits{
		Wall:        60 * time.Second,
		CPU:         60 * time.Second,
		MemoryMB:    2048,
		Processes:   64,
		OpenFiles:   1024,
		FileSizeMB:  256,
		TmpMB:       256,
		StdoutBytes: 8 << 20,
		StderrBytes: 8 << 20,
		ResultBytes: 32 << 20,
	}
	maxL.fixTo(def)
	return Config{
		Mode:           ModeAuto,
		Rootfs:         defaultRootfs(),
		Default:        def,
		Max:            maxL,
		BatchMaxWall:   300 * time.Second,
		Slots:          slots,
		QueueSize:      4 * slots,
		QueueWait:      30 * time.Second,
		BatchQueueWait: 240 * time.Second,
		WarmJails:      slots,
		Preload:        []string{"numpy", "pandas"},
		JobUIDBase:     200000,
		JobCgroups:     true,
		Executor:       ExecutorFork,
		ZygoteMaxForks: 5000,
		ZygoteMaxAge:   time.Hour,
	}
}

// defaultRootfs finds the tree where `make` or the image put it.
func defaultRootfs() string {
	for _, dir := range []string{"build/rootfs", "/opt/python-api/rootfs"} {
		if abs, err := filepath.Abs(dir); err == nil {
			if _, err := os.Stat(filepath.Join(abs, "usr/bin/python3")); err == nil {
				return abs
			}
		}
	}
	return "/opt/python-api/rootfs"
}

// LoadConfig reads the configuration from getenv (os.Getenv in production).
// Every variable is optional; the README lists them.
func LoadConfig(getenv func(string) string) (Config, error) {
	cfg := DefaultConfig()
	p := envParser{getenv: getenv}

	switch m := Mode(strings.ToLower(strings.TrimSpace(getenv("SANDBOX_MODE")))); m {
	case "":
	case ModeAuto, ModeNamespaces, ModeChroot:
		cfg.Mode = m
	default:
		return Config{}, fmt.Errorf("SANDBOX_MODE=%q: want auto, namespaces or chroot", m)
	}
	if v := getenv("SANDBOX_ROOTFS"); v != "" {
		cfg.Rootfs = v
	}
	cfg.NsjailPath = getenv("SANDBOX_NSJAIL")
	switch v := strings.ToLower(strings.TrimSpace(getenv("SANDBOX_JOB_CGROUPS"))); v {
	case "", "on":
	case "off":
		cfg.JobCgroups = false
	default:
		return Config{}, fmt.Errorf("SANDBOX_JOB_CGROUPS=%q: want on or off", v)
	}
	switch e := ExecutorKind(strings.ToLower(strings.TrimSpace(getenv("SANDBOX_EXECUTOR")))); e {
	case "":
	case ExecutorFork, ExecutorWarm, ExecutorCold:
		cfg.Executor = e
	default:
		return Config{}, fmt.Errorf("SANDBOX_EXECUTOR=%q: want fork, warm or cold", e)
	}
	p.int("ZYGOTE_MAX_FORKS", &cfg.ZygoteMaxForks)
	if v, ok := lookup(getenv, "ZYGOTE_MAX_AGE_S"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return Config{}, fmt.Errorf("ZYGOTE_MAX_AGE_S=%q: want a positive number of seconds", v)
		}
		cfg.ZygoteMaxAge = time.Duration(n) * time.Second
	}

	p.duration("TIMEOUT_MS", &cfg.Default.Wall)
	p.duration("MAX_TIMEOUT_MS", &cfg.Max.Wall)
	p.duration("BATCH_MAX_TIMEOUT_MS", &cfg.BatchMaxWall)
	p.duration("CPU_TIME_MS", &cfg.Default.CPU)
	p.duration("MAX_CPU_TIME_MS", &cfg.Max.CPU)
	p.int("MEMORY_MB", &cfg.Default.MemoryMB)
	p.int("MAX_MEMORY_MB", &cfg.Max.MemoryMB)
	p.int("MAX_PROCESSES", &cfg.Default.Processes)
	p.int("MAX_OPEN_FILES", &cfg.Default.OpenFiles)
	p.int("MAX_FILE_SIZE_MB", &cfg.Default.FileSizeMB)
	p.int("TMP_SIZE_MB", &cfg.Default.TmpMB)
	p.int("STDOUT_LIMIT_BYTES", &cfg.Default.StdoutBytes)
	p.int("STDERR_LIMIT_BYTES", &cfg.Default.StderrBytes)
	p.int("RESULT_LIMIT_BYTES", &cfg.Default.ResultBytes)
	p.int("SCRIPT_LIMIT_BYTES", &cfg.Default.ScriptBytes)
	p.int("INPUT_LIMIT_BYTES", &cfg.Default.InputBytes)
	p.int("MAX_INPUT_FILES", &cfg.Default.InputFiles)
	p.int("INPUT_FILES_LIMIT_BYTES", &cfg.Default.InputFilesBytes)
	p.int("MAX_OUTPUT_FILES", &cfg.Default.OutputFiles)
	p.int("OUTPUT_FILE_LIMIT_BYTES", &cfg.Default.OutputFileBytes)
	p.int("OUTPUT_FILES_LIMIT_BYTES", &cfg.Default.OutputFilesBytes)
	p.int("MAX_CONCURRENCY", &cfg.Slots)
	p.int("QUEUE_SIZE", &cfg.QueueSize)
	p.duration("QUEUE_WAIT_MS", &cfg.QueueWait)
	p.duration("BATCH_QUEUE_WAIT_MS", &cfg.BatchQueueWait)
	p.int("WARM_JAILS", &cfg.WarmJails)
	p.int("JOB_UID_BASE", &cfg.JobUIDBase)
	if v, ok := lookup(getenv, "PRELOAD_MODULES"); ok {
		cfg.Preload = splitList(v)
	}
	if p.err != nil {
		return Config{}, p.err
	}
	// Limits a request cannot override are the same for default and max.
	cfg.Max.Processes = max(cfg.Max.Processes, cfg.Default.Processes)
	cfg.Max.OpenFiles = max(cfg.Max.OpenFiles, cfg.Default.OpenFiles)
	cfg.Max.FileSizeMB = max(cfg.Max.FileSizeMB, cfg.Default.FileSizeMB)
	cfg.Max.TmpMB = max(cfg.Max.TmpMB, cfg.Default.TmpMB)
	cfg.Max.StdoutBytes = max(cfg.Max.StdoutBytes, cfg.Default.StdoutBytes)
	cfg.Max.StderrBytes = max(cfg.Max.StderrBytes, cfg.Default.StderrBytes)
	cfg.Max.ResultBytes = max(cfg.Max.ResultBytes, cfg.Default.ResultBytes)
	cfg.Max.fixTo(cfg.Default)
	return cfg, cfg.validate()
}

func (c Config) validate() error {
	switch {
	case c.Slots < 1:
		return fmt.Errorf("MAX_CONCURRENCY must be at least 1, got %d", c.Slots)
	case c.QueueSize < 0:
		return fmt.Errorf("QUEUE_SIZE must not be negative, got %d", c.QueueSize)
	case c.QueueWait <= 0:
		return fmt.Errorf("QUEUE_WAIT_MS must be positive, got %v", c.QueueWait)
	case c.BatchQueueWait <= 0:
		return fmt.Errorf("BATCH_QUEUE_WAIT_MS must be positive, got %v", c.BatchQueueWait)
	case c.WarmJails < 0:
		return fmt.Errorf("WARM_JAILS must not be negative, got %d", c.WarmJails)
	case c.Default.Wall <= 0 || c.Default.Wall > c.Max.Wall:
		return fmt.Errorf("TIMEOUT_MS %v must be positive and at most MAX_TIMEOUT_MS %v", c.Default.Wall, c.Max.Wall)
	case c.BatchMaxWall < c.Max.Wall:
		return fmt.Errorf("BATCH_MAX_TIMEOUT_MS %v must be at least MAX_TIMEOUT_MS %v", c.BatchMaxWall, c.Max.Wall)
	case c.Default.MemoryMB < 64 || c.Default.MemoryMB > c.Max.MemoryMB:
		return fmt.Errorf("MEMORY_MB %d must be at least 64 and at most MAX_MEMORY_MB %d", c.Default.MemoryMB, c.Max.MemoryMB)
	case c.Default.CPU <= 0 || c.Default.CPU > c.Max.CPU:
		return fmt.Errorf("CPU_TIME_MS %v must be positive and at most MAX_CPU_TIME_MS %v", c.Default.CPU, c.Max.CPU)
	case c.ZygoteMaxForks < 1:
		return fmt.Errorf("ZYGOTE_MAX_FORKS must be at least 1, got %d", c.ZygoteMaxForks)
	case c.JobUIDBase < 1000:
		return fmt.Errorf("JOB_UID_BASE must be an unprivileged uid (>= 1000), got %d", c.JobUIDBase)
	}
	for name, v := range map[string]int{
		"MAX_PROCESSES": c.Default.Processes, "MAX_OPEN_FILES": c.Default.OpenFiles,
		"MAX_FILE_SIZE_MB": c.Default.FileSizeMB, "TMP_SIZE_MB": c.Default.TmpMB,
		"STDOUT_LIMIT_BYTES": c.Default.StdoutBytes, "STDERR_LIMIT_BYTES": c.Default.StderrBytes,
		"RESULT_LIMIT_BYTES": c.Default.ResultBytes, "SCRIPT_LIMIT_BYTES": c.Default.ScriptBytes,
		"INPUT_LIMIT_BYTES": c.Default.InputBytes, "MAX_INPUT_FILES": c.Default.InputFiles,
		"INPUT_FILES_LIMIT_BYTES": c.Default.InputFilesBytes, "MAX_OUTPUT_FILES": c.Default.OutputFiles,
		"OUTPUT_FILE_LIMIT_BYTES": c.Default.OutputFileBytes, "OUTPUT_FILES_LIMIT_BYTES": c.Default.OutputFilesBytes,
	} {
		if v < 1 {
			return fmt.Errorf("%s must be positive, got %d", name, v)
		}
	}
	return nil
}

type envParser struct {
	getenv func(string) string
	err    error
}

func (p *envParser) int(name string, dst *int) {
	v, ok := lookup(p.getenv, name)
	if !ok || p.err != nil {
		return
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		p.err = fmt.Errorf("%s=%q: not a whole number", name, v)
		return
	}
	*dst = n
}

func (p *envParser) duration(name string, dst *time.Duration) {
	var ms int
	p.int(name, &ms)
	if p.err == nil && ms != 0 {
		*dst = time.Duration(ms) * time.Millisecond
	}
}

func lookup(getenv func(string) string, name string) (string, bool) {
	v := strings.TrimSpace(getenv(name))
	return v, v != ""
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
