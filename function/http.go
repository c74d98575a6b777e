package function

import (
	"mime"
	"net/http"
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
		respond(failure(sandboxcore.CodeUnavailable, "the server is shutting down; retry"))
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
	if r.Context().Err() != nil {
		// The client went away; nobody reads this answer, but the log
		// line and the metrics should not call it our fault.
		res := failure(codeCanceled, "the client closed the request")
		res.Profile = profile
		return res
	}
	res := sandboxcore.FailureResult(err, profile)
	if res.Error.Code == sandboxcore.CodeInternal {
		s.log.ErrorContext(r.Context(), "execute failed", "path", path, "error", err.Error())
	}
	return res
}
