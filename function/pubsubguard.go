package function

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"python-api/sandboxcore"
)

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
