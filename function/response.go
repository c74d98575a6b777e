package function

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"

	"python-api/sandboxcore"
)

// Codes this package adds to sandboxcore's for failures that happen before
// the sandbox is reached.
const (
	codeUnauthorized         sandboxcore.Code = "unauthorized"
	codeMethodNotAllowed     sandboxcore.Code = "method_not_allowed"
	codeUnsupportedMediaType sandboxcore.Code = "unsupported_media_type"
	codeNotFound             sandboxcore.Code = "not_found"
	// codeOK labels successes in metrics and logs, codeCanceled requests
	// whose client left before the answer (nobody sees its status).
	codeOK       sandboxcore.Code = "ok"
	codeCanceled sandboxcore.Code = "canceled"
)

// HTTPStatus is the status every code is answered with; the batch path
// records the same number in the result object's http_status.
func HTTPStatus(code sandboxcore.Code) int {
	switch code {
	case codeOK:
		return http.StatusOK
	case sandboxcore.CodeInvalidRequest, sandboxcore.CodeSyntaxError, sandboxcore.CodeMissingMain:
		return http.StatusBadRequest
	case codeUnauthorized:
		return http.StatusUnauthorized
	case codeNotFound:
		return http.StatusNotFound
	case codeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case sandboxcore.CodeScriptTooLarge, sandboxcore.CodeInputTooLarge:
		return http.StatusRequestEntityTooLarge
	case codeUnsupportedMediaType:
		return http.StatusUnsupportedMediaType
	case sandboxcore.CodeRuntimeError, sandboxcore.CodeResultNotJSON, sandboxcore.CodeResultTooLarge,
		sandboxcore.CodeTimeout, sandboxcore.CodeMemoryLimit, sandboxcore.CodeKilled:
		return http.StatusUnprocessableEntity
	case sandboxcore.CodeOverloaded:
		return http.StatusTooManyRequests
	case sandboxcore.CodeUnavailable:
		return http.StatusServiceUnavailable
	case codeCanceled:
		// nginx's "client closed request": never sent, only recorded.
		return 499
	default:
		// internal, and any code sandboxcore may add later: our fault
		// until someone maps it.
		return http.StatusInternalServerError
	}
}

// outcome returns the code a Result stands for ("ok" on success).
func outcome(res *sandboxcore.Result) sandboxcore.Code {
	if res.Error == nil {
		return codeOK
	}
	return res.Error.Code
}

// failure is the Result for a request that never reached the sandbox.
func failure(code sandboxcore.Code, msg string) sandboxcore.Result {
	return sandboxcore.Result{Error: &sandboxcore.ExecError{Code: code, Message: msg}}
}

// retryAfterSeconds is the Retry-After sent with 429 and 503: executions
// are short, so a client should come back soon rather than give up.
const retryAfterSeconds = "1"

// writeResult writes res as the HTTP answer and returns the status used.
func writeResult(w http.ResponseWriter, res sandboxcore.Result) int {
	status := HTTPStatus(outcome(&res))
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	if status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", "POST, OPTIONS")
	}
	writeJSON(w, status, res)
	return status
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := marshal(v)
	if err != nil {
		// Only a Result holding invalid raw JSON could get here; the
		// sandbox promises valid JSON, so this is our fault.
		status = http.StatusInternalServerError
		body, _ = marshal(failure(sandboxcore.CodeInternal, "internal error: the result could not be encoded"))
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// marshal encodes without HTML escaping: the output is JSON for programs,
// and escaping would change the bytes of stdout users compare against.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// BatchObject is what a batch execution stores: the HTTP answer's fields
// plus where it came from and how it ended.
type BatchObject struct {
	ID        string `json:"id"`
	MessageID string `json:"message_id"`
	// Status is "ok" or "error"; HTTPStatus is what /execute would have
	// answered for the same outcome.
	Status     string    `json:"status"`
	HTTPStatus int       `json:"http_status"`
	FinishedAt time.Time `json:"finished_at"`
	// IDError explains why the client's id was not used (the message id
	// names the object instead).
	IDError string `json:"id_error,omitempty"`
	sandboxcore.Result
}

func newBatchObject(id, messageID, idErr string, res sandboxcore.Result, at time.Time) BatchObject {
	status := "ok"
	if res.Error != nil {
		status = "error"
	}
	return BatchObject{
		ID: id, MessageID: messageID, Status: status,
		HTTPStatus: HTTPStatus(outcome(&res)), FinishedAt: at.UTC(), IDError: idErr, Result: res,
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// WriteUnavailable answers 503 "unavailable" in the contract's shape, for
// handlers outside this package (cmd/server's proxy to the framework).
func WriteUnavailable(w http.ResponseWriter, msg string) {
	writeResult(w, failure(sandboxcore.CodeUnavailable, msg))
}

// WriteInvalidRequest answers 400 "invalid_request" in the contract's shape,
// for handlers outside this package (cmd/server's proxy, when the caller's
// body breaks off).
func WriteInvalidRequest(w http.ResponseWriter, msg string) {
	writeResult(w, failure(sandboxcore.CodeInvalidRequest, msg))
}
