package function

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// MaxPushBodyBytes bounds a /pubsub body: Pub/Sub messages are at most
// 10 MB, and base64 plus the envelope add a third.
const MaxPushBodyBytes = 16 << 20

// GuardPubSub is the front of /pubsub, which cmd/server puts before the
// Functions Framework. It answers, in the contract's shape and without
// reaching the framework, every caller mistake the framework would get
// wrong: a method other than POST; a missing API key unless PubSubAuth is
// "platform" (a CloudEvent function cannot see the headers); a body over
// MaxPushBodyBytes (413, where the framework's failed read became a 503
// that Pub/Sub would retry forever); and a body that is neither a Pub/Sub
// push envelope nor a CloudEvent (400, where the framework answers 500 for
// some and copies the caller's whole body into its answer and the log for
// others). What passes reaches h with the same bytes.
func (s *Service) GuardPubSub(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reject := func(code sandboxcore.Code, msg string) {
			s.log.WarnContext(r.Context(), "rejected /pubsub request", "path", "pubsub", "code", string(code), "reason", msg)
			writeResult(w, failure(code, msg))
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			writeJSON(w, http.StatusMethodNotAllowed, failure(codeMethodNotAllowed, "use POST with a Pub/Sub push body"))
			return
		}
		if !s.pubsubKeys.allowed(r) {
			writeResult(w, failure(codeUnauthorized, "a valid API key is required"))
			return
		}
		tooLarge := fmt.Sprintf("the push body is larger than the limit of %d bytes", MaxPushBodyBytes)
		if r.ContentLength > MaxPushBodyBytes {
			w.Header().Set("Connection", "close")
			reject(sandboxcore.CodeScriptTooLarge, tooLarge)
			return
		}
		// The framework reads the body whole anyway; reading it here
		// first is what lets the checks below answer before it does.
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxPushBodyBytes))
		if err != nil {
			var mbe *http.MaxBytesError
			switch {
			case errors.As(err, &mbe):
				w.Header().Set("Connection", "close")
				reject(sandboxcore.CodeScriptTooLarge, tooLarge)
			case r.Context().Err() != nil:
				// The sender left; nobody reads an answer.
			default:
				reject(sandboxcore.CodeInvalidRequest, "the request body could not be read")
			}
			return
		}
		if msg := checkPushBody(r.Header, body); msg != "" {
			reject(sandboxcore.CodeInvalidRequest, msg)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		h.ServeHTTP(w, r)
	})
}

// checkPushBody returns why body cannot be a delivery, or "". Binary-mode
// CloudEvents (Eventarc) carry the message in the body and their metadata
// in Ce-* headers; the framework and deliver judge those. Everything else
// must be JSON: a structured CloudEvent or the push envelope that Pub/Sub
// sends, which is checked as the framework will decode it.
func checkPushBody(h http.Header, body []byte) string {
	if h.Get("Ce-Id") != "" {
		return ""
	}
	if strings.Contains(h.Get("Content-Type"), "cloudevents") {
		if !json.Valid(body) {
			return "the body is not valid JSON: a structured CloudEvent must be a JSON object"
		}
		return ""
	}
	var env struct {
		Subscription string `json:"subscription"`
		Message      *struct {
			ID          string            `json:"messageId"`
			Data        []byte            `json:"data"`
			Attributes  map[string]string `json:"attributes"`
			PublishTime time.Time         `json:"publishTime"`
		} `json:"message"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		var (
			syn    *json.SyntaxError
			typeEr *json.UnmarshalTypeError
		)
		switch {
		case len(bytes.TrimSpace(body)) == 0:
			return "the body is empty; send a Pub/Sub push body"
		case errors.As(err, &syn):
			return fmt.Sprintf("the body is not valid JSON (byte %d: %s); send a Pub/Sub push body", syn.Offset, syn.Error())
		case errors.As(err, &typeEr) && typeEr.Field == "":
			return "the body must be a JSON object (a Pub/Sub push body), not a JSON " + typeEr.Value
		case errors.As(err, &typeEr):
			return fmt.Sprintf("field %q of the push body has the wrong type (JSON %s)", typeEr.Field, typeEr.Value)
		case errors.As(err, new(base64.CorruptInputError)):
			return `"message.data" is not valid base64`
		case errors.As(err, new(*time.ParseError)):
			return `"message.publishTime" is not an RFC 3339 time`
		default:
			// Other decoder errors may quote the caller's bytes.
			return "the push body is malformed"
		}
	}
	switch {
	case env.Message == nil:
		return `the body has no "message" object: it is not a Pub/Sub push body`
	case env.Message.ID == "":
		return `"message.messageId" is required`
	}
	return ""
}
