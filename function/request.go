package function

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"strings"
	"time"

	"python-api/sandboxcore"
)

// payload is the script request shared by /execute and the batch messages.
// Pointers tell a missing field from a zero one.
type payload struct {
	Script *string `json:"script"`
	// Input is any JSON value, passed to main(input); nil when absent.
	Input json.RawMessage `json:"input"`
	// Files are written into the script's working directory.
	Files     []payloadFile `json:"files"`
	TimeoutMs *int64        `json:"timeout_ms"`
	MemoryMB  *int64        `json:"memory_mb"`
	// ID is only accepted in batch messages; kept raw so that a bad one
	// can be reported instead of failing the whole message.
	ID json.RawMessage `json:"id"`
}

// decoded is a validated payload.
type decoded struct {
	req sandboxcore.Request
	// id is the raw client id of a batch message ("" when absent), and
	// idPresent says whether the message had one at all.
	id        json.RawMessage
	idPresent bool
}

// requestError is a caller mistake: it carries the code and message the
// caller sees, never a 5xx.
type requestError struct {
	code sandboxcore.Code
	msg  string
}

func (e *requestError) Error() string { return string(e.code) + ": " + e.msg }

func invalid(format string, args ...any) *requestError {
	return &requestError{code: sandboxcore.CodeInvalidRequest, msg: fmt.Sprintf(format, args...)}
}

// bodyLimit is how many bytes of JSON may carry a script of the largest
// allowed size: escaping can double common text ("\n", "\""), and the
// other fields need a little room. Past it the answer is 413 without
// reading further.
func (l Limits) bodyLimit() int64 {
	return 2*int64(l.MaxScriptBytes) + int64(l.MaxInputBytes) + int64(l.MaxFilesBytes)/3*4 + 64<<10
}

// payloadFile is one entry of "files", before its content is decoded.
type payloadFile struct {
	Name    *string `json:"name"`
	Content *string `json:"content"`
}

// decodePayload reads one JSON object from r and validates it for class.
// allowID is true for batch messages. Every failure is a *requestError.
func decodePayload(r io.Reader, lim Limits, class sandboxcore.Class, allowID bool) (decoded, *requestError) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var p payload
	if err := dec.Decode(&p); err != nil {
		return decoded{}, jsonError(err, lim)
	}
	// A second value (or garbage) after the object is as wrong as a
	// syntax error: the caller did not send what they think they sent.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return decoded{}, tooLarge(lim)
		}
		return decoded{}, invalid("invalid JSON: unexpected data after the request object")
	}
	// From here on the id is known even if the rest is wrong, so that a
	// batch error object can still be named after it.
	d := decoded{id: p.ID, idPresent: p.ID != nil}
	if !allowID && p.ID != nil {
		return d, invalid(`unknown field "id": only batch messages take an id`)
	}
	if p.Script == nil {
		return d, invalid(`field "script" is required and must be a string`)
	}
	// Only the shape is checked here; the script's size and content and
	// every limit are sandboxcore's to judge (Config.Check).
	req := sandboxcore.Request{Script: *p.Script, Input: p.Input, Class: class}
	for i, f := range p.Files {
		if f.Name == nil || f.Content == nil {
			return d, invalid(`files[%d] must have a "name" and a base64 "content"`, i)
		}
		content, err := base64.StdEncoding.DecodeString(*f.Content)
		if err != nil {
			return d, invalid(`files[%d] (%q): "content" is not base64: %v`, i, *f.Name, err)
		}
		req.Files = append(req.Files, sandboxcore.InputFile{Name: *f.Name, Content: content})
	}
	if p.TimeoutMs != nil {
		if *p.TimeoutMs < 1 {
			return d, invalid(`field "timeout_ms" must be a positive integer`)
		}
		req.Timeout = time.Duration(min(*p.TimeoutMs, math.MaxInt64/int64(time.Millisecond))) * time.Millisecond
	}
	if p.MemoryMB != nil {
		if *p.MemoryMB < 1 {
			return d, invalid(`field "memory_mb" must be a positive integer`)
		}
		req.MemoryMB = int(min(*p.MemoryMB, math.MaxInt32))
	}
	d.req = req
	return d, nil
}

// tooLarge: the body was cut at Limits.bodyLimit, so the script in it is
// over the limit too.
func tooLarge(lim Limits) *requestError {
	return &requestError{
		code: sandboxcore.CodeScriptTooLarge,
		msg:  fmt.Sprintf("the request body is larger than a script of the limit of %d bytes can make", lim.MaxScriptBytes),
	}
}

// jsonError turns a decoder error into a message that names the field.
func jsonError(err error, lim Limits) *requestError {
	var (
		mbe    *http.MaxBytesError
		syn    *json.SyntaxError
		typeEr *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return tooLarge(lim)
	case errors.Is(err, io.EOF):
		return invalid("the request body is empty; send a JSON object with a \"script\" field")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("invalid JSON: the body ends in the middle of a value")
	case errors.As(err, &syn):
		return invalid("invalid JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typeEr):
		switch typeEr.Field {
		case "":
			return invalid("the request body must be a JSON object, not a JSON %s", typeEr.Value)
		case "script":
			return invalid(`field "script" must be a string, not a JSON %s`, typeEr.Value)
		case "timeout_ms", "memory_mb":
			return invalid(`field %q must be an integer, not a JSON %s`, typeEr.Field, typeEr.Value)
		default:
			return invalid("field %q has the wrong type (JSON %s)", typeEr.Field, typeEr.Value)
		}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no typed error for this one.
		return invalid("%s; allowed fields are \"script\", \"input\", \"files\", \"timeout_ms\", \"memory_mb\"",
			strings.TrimPrefix(err.Error(), "json: "))
	default:
		return invalid("invalid JSON: %v", err)
	}
}

// batchIDPattern is what a client id must look like to become an object
// name: nothing that could climb directories or surprise a bucket listing.
var batchIDPattern = regexp.MustCompile(BatchIDPattern)

// BatchIDPattern is the rule for a batch message's "id".
const BatchIDPattern = `^[A-Za-z0-9_-]{1,128}$`

// ValidBatchID reports whether id may name a batch result.
func ValidBatchID(id string) bool { return batchIDPattern.MatchString(id) }

// resolveBatchID picks the result object's id: the client's when it is
// safe, else the Pub/Sub message id. idErr explains a rejected client id
// without echoing more than a short, escaped prefix of it.
func resolveBatchID(d decoded, messageID string) (id string, idErr string) {
	if d.idPresent {
		var s string
		if err := json.Unmarshal(d.id, &s); err != nil {
			idErr = "the id is not a JSON string; the message id names the result"
		} else if !batchIDPattern.MatchString(s) {
			idErr = fmt.Sprintf("the id %s does not match %s; the message id names the result", quoteShort(s), BatchIDPattern)
		} else {
			return s, ""
		}
	}
	return messageIDName(messageID), idErr
}

// messageIDName makes a message id usable as a name. Pub/Sub's ids are
// decimal, but the value arrives over the network, so it is checked too.
func messageIDName(messageID string) string {
	if batchIDPattern.MatchString(messageID) {
		return messageID
	}
	return "msg-" + sha256Hex([]byte(messageID))[:32]
}

func quoteShort(s string) string {
	const max = 40
	if len(s) > max {
		b := []byte(s[:max])
		// Do not cut a UTF-8 sequence in half.
		for len(b) > 0 && b[len(b)-1]&0xC0 == 0x80 {
			b = b[:len(b)-1]
		}
		if len(b) > 0 && b[len(b)-1] >= 0xC0 {
			b = b[:len(b)-1]
		}
		return fmt.Sprintf("%q… (%d bytes)", bytes.ToValidUTF8(b, nil), len(s))
	}
	return fmt.Sprintf("%q", s)
}
