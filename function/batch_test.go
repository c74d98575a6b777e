package function

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"python-api/sandboxcore"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

func pubsubEvent(t *testing.T, messageID string, data []byte) cloudevents.Event {
	t.Helper()
	e := cloudevents.NewEvent()
	e.SetID(messageID)
	e.SetType(MessagePublishedType)
	e.SetSource("//pubsub.googleapis.com/projects/p/topics/t")
	body := map[string]any{
		"message":      map[string]any{"data": base64.StdEncoding.EncodeToString(data), "messageId": messageID},
		"subscription": "projects/p/subscriptions/s",
	}
	if err := e.SetData("application/json", body); err != nil {
		t.Fatal(err)
	}
	return e
}

func newBatchService(t *testing.T, exec *fakeExec, store ResultStore) (*Service, *DirStore) {
	t.Helper()
	dir, err := NewDirStore(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	if store == nil {
		store = dir
	}
	s, _ := newTestService(t, exec, func(o *Options) {
		o.Store = store
		o.Now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	})
	return s, dir
}

func readObject(t *testing.T, d *DirStore, id string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(d.Name(id))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBatchWritesObject(t *testing.T) {
	exec := &fakeExec{}
	s, dir := newBatchService(t, exec, nil)
	err := s.PubSubFunc()(context.Background(), pubsubEvent(t, "1001", []byte(`{"script":"def main(): return 1","id":"job-1","timeout_ms":120000}`)))
	if err != nil {
		t.Fatal(err)
	}
	obj := readObject(t, dir, "job-1")
	want := map[string]any{"id": "job-1", "message_id": "1001", "status": "ok", "http_status": 200.0,
		"finished_at": "2026-01-02T03:04:05Z", "stdout": "out\n", "profile": "namespaces"}
	for k, v := range want {
		if obj[k] != v {
			t.Errorf("%s = %v, want %v", k, obj[k], v)
		}
	}
	if r, _ := obj["result"].(map[string]any); r["status"] != "ok" {
		t.Errorf("result = %v", obj["result"])
	}
	req := exec.lastRequest(t)
	if req.Class != sandboxcore.Batch || req.Timeout != 2*time.Minute {
		t.Fatalf("batch request %+v", req)
	}
	if !strings.HasSuffix(dir.Name("job-1"), filepath.Join("results", "job-1.json")) {
		t.Fatalf("object name %s", dir.Name("job-1"))
	}
}

func TestBatchDuplicateRunsOnce(t *testing.T) {
	release := make(chan struct{})
	exec := &fakeExec{fn: func(context.Context, sandboxcore.Request) (sandboxcore.Result, error) {
		<-release
		return okResult("1", ""), nil
	}}
	s, dir := newBatchService(t, exec, nil)
	msg := []byte(`{"script":"def main(): return 1","id":"same"}`)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.PubSubFunc()(context.Background(), pubsubEvent(t, fmt.Sprint(500+i), msg))
		}()
	}
	time.Sleep(100 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := exec.calls.Load(); n != 1 {
		t.Fatalf("executed %d times, want 1", n)
	}
	// Later redelivery: still skipped.
	if err := s.PubSubFunc()(context.Background(), pubsubEvent(t, "999", msg)); err != nil {
		t.Fatal(err)
	}
	if exec.calls.Load() != 1 {
		t.Fatal("redelivery executed again")
	}
	entries, _ := os.ReadDir(filepath.Dir(dir.Name("same")))
	if len(entries) != 1 {
		t.Fatalf("want exactly one file, got %v", entries)
	}
}

func TestBatchPoisonIsAcknowledgedWithErrorObject(t *testing.T) {
	cases := []struct {
		name, data, id, code string
		status               float64
	}{
		{"not json", `this is not json`, "700", "invalid_request", 400},
		{"no script", `{"id":"p2"}`, "p2", "invalid_request", 400},
		{"script wrong type", `{"script":5,"id":"p3"}`, "702", "invalid_request", 400},
		{"nul", `{"script":"def main():\u0000","id":"p4"}`, "p4", "invalid_request", 400},
		{"timeout too long", `{"script":"x","timeout_ms":99999999,"id":"p5"}`, "p5", "invalid_request", 400},
		{"too large", `{"script":"` + strings.Repeat("x", DefaultLimits.MaxScriptBytes+1) + `","id":"p6"}`, "p6", "script_too_large", 413},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			exec := &fakeExec{}
			s, dir := newBatchService(t, exec, nil)
			if err := s.PubSubFunc()(context.Background(), pubsubEvent(t, fmt.Sprint(700+i), []byte(c.data))); err != nil {
				t.Fatalf("poison must be acknowledged, got %v", err)
			}
			obj := readObject(t, dir, c.id)
			e, _ := obj["error"].(map[string]any)
			if obj["status"] != "error" || e["code"] != c.code || obj["http_status"] != c.status || obj["result"] != nil {
				t.Fatalf("object %v", obj)
			}
			if exec.calls.Load() != 0 {
				t.Fatal("poison reached the sandbox")
			}
		})
	}
	// A script error is the script's problem: acknowledged, recorded.
	exec := &fakeExec{fn: func(context.Context, sandboxcore.Request) (sandboxcore.Result, error) {
		return errResult(sandboxcore.CodeRuntimeError), nil
	}}
	s, dir := newBatchService(t, exec, nil)
	if err := s.PubSubFunc()(context.Background(), pubsubEvent(t, "800", []byte(`{"script":"def main(): 1/0","id":"div"}`))); err != nil {
		t.Fatal(err)
	}
	if obj := readObject(t, dir, "div"); obj["http_status"] != 422.0 || obj["status"] != "error" {
		t.Fatalf("object %v", obj)
	}
}

func TestBatchBadIDsUseMessageID(t *testing.T) {
	for i, bad := range []string{`"../../x"`, `"a/b"`, `"` + strings.Repeat("a", 2048) + `"`, `"日本"`, `""`, `42`, `null`, `"a.json"`} {
		t.Run(bad[:min(len(bad), 10)], func(t *testing.T) {
			s, dir := newBatchService(t, &fakeExec{}, nil)
			mid := fmt.Sprint(900 + i)
			data := fmt.Sprintf(`{"script":"def main(): return 1","id":%s}`, bad)
			if err := s.PubSubFunc()(context.Background(), pubsubEvent(t, mid, []byte(data))); err != nil {
				t.Fatal(err)
			}
			obj := readObject(t, dir, mid)
			if obj["id"] != mid || !strings.Contains(obj["id_error"].(string), "message id") {
				t.Fatalf("object %v", obj)
			}
			entries, _ := os.ReadDir(filepath.Dir(dir.Name(mid)))
			if len(entries) != 1 {
				t.Fatalf("files: %v", entries)
			}
			if len(obj["id_error"].(string)) > 200 {
				t.Fatal("id_error echoes too much of the id")
			}
		})
	}
	// A message id that is not a safe name is hashed, never used raw.
	if got := messageIDName("../x"); !batchIDPattern.MatchString(got) || strings.Contains(got, ".") {
		t.Fatalf("messageIDName = %q", got)
	}
}

type failingStore struct {
	ResultStore
	mu         sync.Mutex
	failExists bool
	failCreate bool
}

func (f *failingStore) Exists(ctx context.Context, id string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failExists {
		return false, errors.New("storage down")
	}
	return f.ResultStore.Exists(ctx, id)
}

func (f *failingStore) Create(ctx context.Context, id string, b []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failCreate {
		return errors.New("storage down")
	}
	return f.ResultStore.Create(ctx, id, b)
}

func retryStatus(t *testing.T, err error) int {
	t.Helper()
	var res *cehttp.Result
	if !errors.As(err, &res) {
		t.Fatalf("error %v is not an HTTP result", err)
	}
	return res.StatusCode
}

func TestBatchTransientErrorsRetry(t *testing.T) {
	dir, err := NewDirStore(t.TempDir(), "pre/fix")
	if err != nil {
		t.Fatal(err)
	}
	store := &failingStore{ResultStore: dir, failExists: true}
	exec := &fakeExec{}
	s, _ := newBatchService(t, exec, store)
	msg := []byte(`{"script":"def main(): return 1","id":"t1"}`)
	err = s.PubSubFunc()(context.Background(), pubsubEvent(t, "1", msg))
	if err == nil || retryStatus(t, err) != http.StatusServiceUnavailable {
		t.Fatalf("store down before execution: %v", err)
	}
	if exec.calls.Load() != 0 {
		t.Fatal("executed although the result could not be checked")
	}
	store.failExists, store.failCreate = false, true
	if err := s.PubSubFunc()(context.Background(), pubsubEvent(t, "1", msg)); err == nil {
		t.Fatal("store down at write: want retry")
	}
	store.failCreate = false
	if err := s.PubSubFunc()(context.Background(), pubsubEvent(t, "1", msg)); err != nil {
		t.Fatalf("store back: %v", err)
	}
	if ok, _ := dir.Exists(context.Background(), "t1"); !ok {
		t.Fatal("object not written once storage came back")
	}
	if !strings.Contains(filepath.ToSlash(dir.Name("t1")), "/pre/fix/t1.json") {
		t.Fatalf("prefix not applied: %s", dir.Name("t1"))
	}

	for _, e := range []error{sandboxcore.ErrOverloaded, sandboxcore.ErrUnavailable, errors.New("host on fire")} {
		exec := &fakeExec{fn: func(context.Context, sandboxcore.Request) (sandboxcore.Result, error) { return sandboxcore.Result{}, e }}
		s, dir := newBatchService(t, exec, nil)
		if err := s.PubSubFunc()(context.Background(), pubsubEvent(t, "2", msg)); err == nil {
			t.Fatalf("%v: want a retry", e)
		}
		if ok, _ := dir.Exists(context.Background(), "t1"); ok {
			t.Fatalf("%v: an object was written for a transient failure", e)
		}
	}
	exec = &fakeExec{fn: func(context.Context, sandboxcore.Request) (sandboxcore.Result, error) {
		return errResult(sandboxcore.CodeInternal), nil
	}}
	s, _ = newBatchService(t, exec, nil)
	if err := s.PubSubFunc()(context.Background(), pubsubEvent(t, "3", msg)); err == nil {
		t.Fatal("internal result: want a retry")
	}
	s.Drain()
	if err := s.PubSubFunc()(context.Background(), pubsubEvent(t, "4", msg)); err == nil {
		t.Fatal("draining: want a retry")
	}
	none, _ := newTestService(t, &fakeExec{}, nil)
	if err := none.PubSubFunc()(context.Background(), pubsubEvent(t, "5", msg)); err == nil {
		t.Fatal("no store: want a retry")
	}
}

func TestBatchIgnoresForeignEvents(t *testing.T) {
	exec := &fakeExec{}
	s, _ := newBatchService(t, exec, nil)
	e := pubsubEvent(t, "1", []byte(`{"script":"x"}`))
	e.SetType("google.cloud.storage.object.v1.finalized")
	if err := s.PubSubFunc()(context.Background(), e); err != nil || exec.calls.Load() != 0 {
		t.Fatalf("foreign event: %v, calls %d", err, exec.calls.Load())
	}
}

func TestDirStoreExclusive(t *testing.T) {
	d, err := NewDirStore(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, exists := 0, 0
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := d.Create(ctx, "x", []byte(fmt.Sprintf(`{"writer":%d}`, i)))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, ErrResultExists):
				exists++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || exists != 15 {
		t.Fatalf("wins %d exists %d", wins, exists)
	}
	entries, _ := os.ReadDir(filepath.Dir(d.Name("x")))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
	b, _ := os.ReadFile(d.Name("x"))
	if !json.Valid(b) {
		t.Fatalf("partial object %q", b)
	}
}
