package function

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"python-api/sandboxcore"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// MessagePublishedType is the CloudEvent type of a Pub/Sub message.
const MessagePublishedType = "google.cloud.pubsub.topic.v1.messagePublished"

// messagePublishedData is the CloudEvent data Pub/Sub (through Eventarc or
// the Functions Framework's push conversion) delivers.
type messagePublishedData struct {
	Message struct {
		Data       []byte            `json:"data"`
		MessageID  string            `json:"messageId"`
		Attributes map[string]string `json:"attributes"`
	} `json:"message"`
	Subscription string `json:"subscription"`
}

// PubSubFunc is the CloudEvent function registered as "pubsub".
//
// Returning nil acknowledges the message; an error makes Pub/Sub deliver
// it again (and, after the subscription's attempts, dead-letter it). So:
// poison (bad JSON, no script, anything the script itself did wrong) is
// recorded as an error object and acknowledged; transient trouble (no
// sandbox, storage down, shutting down) is an error.
func (s *Service) PubSubFunc() func(context.Context, cloudevents.Event) error {
	return s.handlePubSub
}

func (s *Service) handlePubSub(ctx context.Context, e cloudevents.Event) error {
	err := s.deliver(ctx, e)
	if err != nil {
		s.log.WarnContext(ctx, "batch delivery failed; Pub/Sub will retry", "path", "pubsub", "event_id", e.ID(), "error", err.Error())
	}
	return err
}

func (s *Service) deliver(ctx context.Context, e cloudevents.Event) error {
	start := time.Now()
	if e.Type() != MessagePublishedType {
		// Not ours to retry forever: acknowledge and say why.
		s.log.WarnContext(ctx, "ignored event of unexpected type", "path", "pubsub", "type", e.Type(), "event_id", e.ID())
		return nil
	}
	var msg messagePublishedData
	if err := e.DataAs(&msg); err != nil {
		// The envelope is broken, not the script; without a message id
		// there is nothing to name a result after.
		s.log.WarnContext(ctx, "ignored undecodable Pub/Sub event", "path", "pubsub", "event_id", e.ID(), "error", err.Error())
		return nil
	}
	messageID := msg.Message.MessageID
	if messageID == "" {
		messageID = e.ID()
	}
	if messageID == "" {
		s.log.WarnContext(ctx, "ignored Pub/Sub event without a message id", "path", "pubsub")
		return nil
	}
	if s.draining.Load() {
		return transient("shutting down; deliver %s again later", messageID)
	}
	if s.store == nil {
		return transient("no result store is configured")
	}

	rec := execRecord{path: "pubsub", messageID: messageID}
	var res sandboxcore.Result
	d, rerr := decodePayload(bytes.NewReader(msg.Message.Data), s.limits, sandboxcore.Batch, true)
	id, idErr := resolveBatchID(d, messageID)
	if rerr != nil {
		res = failure(rerr.code, rerr.msg)
	}
	rec.id, rec.idRejected = id, idErr != ""

	// One delivery of an id at a time in this process: a duplicate waits
	// here, then sees the first one's object and stops.
	unlock, err := s.batchLocks.lock(ctx, id)
	if err != nil {
		return transient("waiting for another delivery of %s: %v", id, err)
	}
	defer unlock()

	exists, err := s.storeExists(ctx, id)
	if err != nil {
		return transient("result store: %v", err)
	}
	if exists {
		s.metrics.duplicates.Inc()
		s.log.InfoContext(ctx, "duplicate delivery skipped", "path", "pubsub", "id", id, "message_id", messageID)
		return nil
	}

	if rerr == nil {
		rec.setScript(d.req.Script)
		res, err = s.exec.Execute(ctx, d.req)
		if err != nil {
			code := sandboxcore.FailureResult(err, "").Error.Code
			s.metrics.observe("pubsub", code, time.Since(start))
			if code == sandboxcore.CodeInternal {
				s.log.ErrorContext(ctx, "execute failed", "path", "pubsub", "id", id, "message_id", messageID, "error", err.Error())
			}
			return transient("execute %s: %s", id, code)
		}
		if c := outcome(&res); c == sandboxcore.CodeInternal || c == sandboxcore.CodeOverloaded {
			// Not the script's fault: another attempt may well succeed.
			s.metrics.observe("pubsub", c, time.Since(start))
			return transient("execute %s: %s", id, c)
		}
	}

	if err := s.storeOutputFiles(ctx, id, &res); err != nil {
		return transient("result store: %v", err)
	}
	obj := newBatchObject(id, messageID, idErr, res, s.now())
	data, err := marshal(obj)
	if err != nil {
		return transient("encode result %s: %v", id, err)
	}
	switch err := s.storeCreate(ctx, id, data); {
	case errors.Is(err, ErrResultExists):
		rec.duplicate = true
	case err != nil:
		return transient("result store: %v", err)
	}
	rec.status = obj.HTTPStatus
	s.record(ctx, &rec, &res, time.Since(start))
	return nil
}

// storeOutputFiles writes each output file as an object of its own next
// to the result, which then names it instead of carrying its bytes. A
// name the store cannot take is skipped and said so.
func (s *Service) storeOutputFiles(ctx context.Context, id string, res *sandboxcore.Result) error {
	kept := res.Files[:0]
	for _, f := range res.Files {
		if err := sandboxcore.CheckFileName(f.Name); err != nil {
			res.FilesSkipped = append(res.FilesSkipped, sandboxcore.SkippedFile{Name: f.Name, Reason: "not stored: " + err.Error()})
			continue
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.storeTimeout)
		where, err := s.store.CreateFile(sctx, id, f.Name, f.Content)
		cancel()
		if err != nil {
			return err
		}
		f.Object, f.Content = where, nil
		kept = append(kept, f)
	}
	res.Files = kept
	return nil
}

func (s *Service) storeExists(ctx context.Context, id string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.storeTimeout)
	defer cancel()
	return s.store.Exists(ctx, id)
}

func (s *Service) storeCreate(ctx context.Context, id string, data []byte) error {
	// The execution is done and paid for: finish writing it even if the
	// push request is being cancelled, within the store timeout.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.storeTimeout)
	defer cancel()
	return s.store.Create(ctx, id, data)
}

// transient is a retryable failure: 503 tells the push sender to try
// again later without calling it a crash.
func transient(format string, args ...any) error {
	return cehttp.NewResult(http.StatusServiceUnavailable, "%w", fmt.Errorf(format, args...))
}
