package function

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"mime"
	"net/http"
	"strings"
	"time"

	"python-api/sandboxcore"
)

// ExecuteHandler serves POST /execute (and its CORS preflight).
func (s *Service) ExecuteHandler() http.Handler { return http.HandlerFunc(s.serveExecute) }

func (s *Service) serveExecute(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := execRecord{path: "http", trace: traceFrom(r.Header, s.projectID)}
	respond := func(res sandboxcore.Result) {
		rec.status = writeResult(w, res)
		s.record(r.Context(), &rec, &res, time.Since(start))
	}

	s.cors.apply(w, r)
	switch r.Method {
	case http.MethodPost:
	case http.MethodOptions:
		// Preflights carry no credentials, so they are answered before
		// the key check; apply() has set the headers if the origin is
		// allowed, and the browser enforces the rest.
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		respond(failure(codeMethodNotAllowed, "use POST with a JSON body"))
		return
	}
	if !s.keys.allowed(r) {
		respond(failure(codeUnauthorized, "a valid API key is required (Authorization: Bearer <key> or X-API-Key: <key>)"))
		return
	}
	if s.draining.Load() {
		respond(failure(codeUnavailable, "the server is shutting down; retry"))
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		respond(failure(codeUnsupportedMediaType, "Content-Type must be application/json"))
		return
	}

	body := http.MaxBytesReader(w, r.Body, s.limits.bodyLimit())
	d, rerr := decodePayload(body, s.limits, sandboxcore.Interactive, false)
	if rerr != nil {
		if rerr.code == sandboxcore.CodeScriptTooLarge {
			// The rest of an oversized body is not worth reading.
			w.Header().Set("Connection", "close")
		}
		respond(failure(rerr.code, rerr.msg))
		return
	}
	rec.setScript(d.req.Script)

	res, err := s.exec.Execute(r.Context(), d.req)
	if err != nil {
		res = s.executeFailure(r, err, "http")
	}
	respond(res)
}

// executeFailure turns an Execute error into the Result the caller sees.
func (s *Service) executeFailure(r *http.Request, err error, path string) sandboxcore.Result {
	profile := s.exec.Health().Profile
	switch {
	case r.Context().Err() != nil:
		// The client went away; nobody reads this answer, but the log
		// line and the metrics should not call it our fault.
		res := failure(codeCanceled, "the client closed the request")
		res.Profile = profile
		return res
	case errors.Is(err, sandboxcore.ErrOverloaded):
		return sandboxcore.FailureResult(err, profile)
	case errors.Is(err, sandboxcore.ErrUnavailable):
		// Close makes Execute return this while the server shuts down;
		// 503 tells the client (and Cloud Run) to try another instance.
		res := failure(codeUnavailable, "no sandbox is available right now; retry")
		res.Profile = profile
		return res
	default:
		s.log.ErrorContext(r.Context(), "execute failed", "path", path, "error", err.Error())
		return sandboxcore.FailureResult(err, profile)
	}
}

// corsPolicy answers browsers from the configured origins.
type corsPolicy struct {
	any     bool
	origins map[string]bool
}

func newCORSPolicy(origins []string) corsPolicy {
	p := corsPolicy{origins: map[string]bool{}}
	for _, o := range origins {
		o = strings.TrimRight(strings.TrimSpace(o), "/")
		switch o {
		case "":
		case "*":
			p.any = true
		default:
			p.origins[o] = true
		}
	}
	return p
}

func (p corsPolicy) apply(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if origin == "" || !(p.any || p.origins[origin]) {
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, X-API-Key")
		h.Set("Access-Control-Max-Age", "600")
	} else {
		h.Set("Access-Control-Expose-Headers", "Retry-After")
	}
}

// apiKeys holds digests of the configured keys so that every comparison
// has the same length and takes the same time whichever key matches.
type apiKeys struct {
	digests [][sha256.Size]byte
}

func newAPIKeys(keys []string) *apiKeys {
	a := &apiKeys{}
	for _, k := range keys {
		if k = strings.TrimSpace(k); k != "" {
			a.digests = append(a.digests, sha256.Sum256([]byte(k)))
		}
	}
	return a
}

func (a *apiKeys) enabled() bool { return len(a.digests) > 0 }

func (a *apiKeys) allowed(r *http.Request) bool {
	if !a.enabled() {
		return true
	}
	presented := r.Header.Get("X-API-Key")
	if auth := r.Header.Get("Authorization"); presented == "" && len(auth) > 7 && strings.EqualFold(auth[:7], "Bearer ") {
		presented = strings.TrimSpace(auth[7:])
	}
	if presented == "" {
		return false
	}
	d := sha256.Sum256([]byte(presented))
	match := 0
	for i := range a.digests {
		match |= subtle.ConstantTimeCompare(d[:], a.digests[i][:])
	}
	return match == 1
}

// GuardPubSub wraps the /pubsub endpoint (in cmd/server) with the API key
// check unless PubSubAuth is "platform". A CloudEvent function cannot see
// the request's headers, so the check has to sit in front of it.
func (s *Service) GuardPubSub(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.pubsubKeys.allowed(r) {
			writeResult(w, failure(codeUnauthorized, "a valid API key is required"))
			return
		}
		h.ServeHTTP(w, r)
	})
}
