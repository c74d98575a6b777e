package function

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"python-api/sandboxcore"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// The Functions Framework serves registered functions at /<name> when
// FUNCTION_TARGET is unset (cmd/server), or the named one at / when it is
// set (one function per deployment).
func init() {
	functions.HTTP("execute", func(w http.ResponseWriter, r *http.Request) {
		s, err := Default()
		if err != nil {
			writeResult(w, failure(sandboxcore.CodeUnavailable, "the sandbox is not available"))
			return
		}
		s.serveExecute(w, r)
	})
	pubsubFn := func(ctx context.Context, e cloudevents.Event) error {
		s, err := Default()
		if err != nil {
			return transient("service not available: %v", err)
		}
		return s.handlePubSub(ctx, e)
	}
	functions.CloudEvent("pubsub", pubsubFn)
	// Push subscriptions point at /pubsub/projects/P/topics/T: the
	// framework reads the topic from the path for the CloudEvent's source
	// (and warns on every delivery without one).
	if err := funcframework.RegisterCloudEventFunctionContext(context.Background(), PubSubTopicPath, pubsubFn); err != nil {
		panic(err)
	}
}

// PubSubTopicPath is where push subscriptions deliver, followed by
// projects/PROJECT/topics/TOPIC.
const PubSubTopicPath = "/pubsub/"

// Default returns the service the registered functions use, building it
// from the environment on first use. The first error is kept: a sandbox
// that could not start does not get a second chance in this process
// (fail closed; the platform restarts the instance).
func Default() (*Service, error) { return defaultService() }

var defaultService = sync.OnceValues(func() (*Service, error) {
	s, err := NewServiceFromEnv(context.Background(), os.Getenv)
	if err != nil {
		NewLogger(os.Stderr).Error("service failed to start", "error", err.Error())
	}
	return s, err
})

// version is set at link time: -ldflags "-X python-api/function.version=v1.2.3".
var version = ""

// Version names this build for /healthz.
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return s.Value[:12]
			}
		}
		if bi.Main.Version != "" {
			return bi.Main.Version
		}
	}
	return "dev"
}

// Env is the service's configuration from the environment (the sandbox
// reads its own through sandboxcore.LoadConfig).
type Env struct {
	ResultsBucket string        // RESULTS_BUCKET: Cloud Storage bucket; unset means ResultsDir
	ResultsPrefix string        // RESULTS_PREFIX: object prefix, default "results"
	ResultsDir    string        // RESULTS_DIR: local results root, default ./results
	StoreTimeout  time.Duration // RESULTS_STORE_TIMEOUT: bound on each store call, default 10s
	APIKeys       []string      // API_KEYS: comma list; empty disables the check
	CORSOrigins   []string      // CORS_ALLOWED_ORIGINS: comma list, "*" any, "none" no browser access
	ProjectID     string        // GOOGLE_CLOUD_PROJECT: for trace links in logs
	// PubSubAuth is PUBSUB_AUTH: "api_key" (default) puts /pubsub behind
	// API_KEYS like /execute; "platform" leaves it to Cloud Run IAM (the
	// push subscription's OIDC token), since Pub/Sub cannot send API keys;
	// "oidc" has this server check that token (a public service):
	// PUBSUB_OIDC_AUDIENCE and PUBSUB_OIDC_EMAIL say whose it must be.
	PubSubAuth string
	PubSubOIDC PushOIDC
}

// DefaultCORSOrigins is the Vite dev server of the IDE.
const DefaultCORSOrigins = "http://localhost:5173,http://127.0.0.1:5173"

// LoadEnv reads Env through getenv.
func LoadEnv(getenv func(string) string) (Env, error) {
	e := Env{
		ResultsBucket: strings.TrimSpace(getenv("RESULTS_BUCKET")),
		ResultsPrefix: getenv("RESULTS_PREFIX"),
		ResultsDir:    getenv("RESULTS_DIR"),
		StoreTimeout:  10 * time.Second,
		APIKeys:       splitList(getenv("API_KEYS")),
		ProjectID:     getenv("GOOGLE_CLOUD_PROJECT"),
		PubSubAuth:    getenv("PUBSUB_AUTH"),
		PubSubOIDC:    PushOIDC{Audience: getenv("PUBSUB_OIDC_AUDIENCE"), Email: getenv("PUBSUB_OIDC_EMAIL")},
	}
	if e.ResultsDir == "" {
		e.ResultsDir = "results"
	}
	switch cors := strings.TrimSpace(getenv("CORS_ALLOWED_ORIGINS")); cors {
	case "":
		e.CORSOrigins = splitList(DefaultCORSOrigins)
	case "none":
	default:
		e.CORSOrigins = splitList(cors)
	}
	if v := getenv("RESULTS_STORE_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Env{}, fmt.Errorf("RESULTS_STORE_TIMEOUT=%q: want a positive duration such as 10s", v)
		}
		e.StoreTimeout = d
	}
	switch e.PubSubAuth {
	case "":
		e.PubSubAuth = "api_key"
	case "api_key", "platform":
	case "oidc":
		if e.PubSubOIDC.Audience == "" || e.PubSubOIDC.Email == "" {
			return Env{}, fmt.Errorf("PUBSUB_AUTH=oidc needs PUBSUB_OIDC_AUDIENCE and PUBSUB_OIDC_EMAIL")
		}
	default:
		return Env{}, fmt.Errorf("PUBSUB_AUTH=%q: want api_key, platform or oidc", e.PubSubAuth)
	}
	return e, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// NewResultReader opens the result store Env names, for reading.
func (e Env) NewResultReader(ctx context.Context) (ResultReader, error) {
	if e.ResultsBucket != "" {
		return NewGCSStore(ctx, e.ResultsBucket, e.ResultsPrefix)
	}
	return &DirStore{dir: dirStoreRoot(e.ResultsDir, e.ResultsPrefix)}, nil
}

// NewStore opens the result store Env asks for.
func (e Env) NewStore(ctx context.Context) (ResultStore, error) {
	if e.ResultsBucket != "" {
		return NewGCSStore(ctx, e.ResultsBucket, e.ResultsPrefix)
	}
	return NewDirStore(e.ResultsDir, e.ResultsPrefix)
}

// NewServiceFromEnv starts the sandbox and the result store and builds the
// service, logging JSON to stderr (the Functions Framework prints
// unterminated warnings to stdout, which would corrupt a JSON line).
func NewServiceFromEnv(ctx context.Context, getenv func(string) string) (*Service, error) {
	env, err := LoadEnv(getenv)
	if err != nil {
		return nil, err
	}
	cfg, err := sandboxcore.LoadConfig(getenv)
	if err != nil {
		return nil, fmt.Errorf("sandbox config: %w", err)
	}
	store, err := env.NewStore(ctx)
	if err != nil {
		return nil, err
	}
	logger := NewLogger(os.Stderr)
	cfg.Logger = logger
	exec, err := sandboxcore.New(ctx, cfg)
	if err != nil {
		if c, ok := store.(interface{ Close() error }); ok {
			_ = c.Close()
		}
		return nil, fmt.Errorf("start sandbox: %w", err)
	}
	return NewService(Options{
		Executor:     exec,
		Store:        store,
		Logger:       logger,
		Limits:       limitsFromConfig(cfg),
		APIKeys:      env.APIKeys,
		CORSOrigins:  env.CORSOrigins,
		ProjectID:    env.ProjectID,
		StoreTimeout: env.StoreTimeout,
		Version:      Version(),
		PubSubAuth:   env.PubSubAuth,
		PubSubOIDC:   env.PubSubOIDC,
	})
}

// limitsFromConfig takes the request limits from the sandbox's own
// configuration so that both layers agree.
func limitsFromConfig(cfg sandboxcore.Config) Limits {
	return Limits{MaxScriptBytes: cfg.Max.ScriptBytes, MaxInputBytes: cfg.Max.InputBytes, MaxFilesBytes: cfg.Max.InputFilesBytes}.withDefaults()
}
