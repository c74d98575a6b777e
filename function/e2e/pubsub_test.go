package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/types/known/durationpb"
)

// The official emulator, from the google-cloud-cli-pubsub-emulator package.
const emulatorBin = "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator"

const (
	project = "e2e-project"
	topicID = "scripts"
	bucket  = "e2e-results"
)

// fakeGCS is fake-gcs-server on a fixed port and data directory, so it can
// be stopped and started again with its objects intact (the outage test).
type fakeGCS struct {
	bin, root string
	port      int
	p         *proc
}

func (g *fakeGCS) addr() string { return fmt.Sprintf("127.0.0.1:%d", g.port) }

func (g *fakeGCS) start() error {
	p, err := startProc("fake-gcs-server", []string{"PATH=" + os.Getenv("PATH")}, g.bin,
		"-scheme", "http", "-host", "127.0.0.1", "-port", strconv.Itoa(g.port),
		"-backend", "filesystem", "-filesystem-root", g.root,
		// Downloads are matched on the Host header: it must be ours.
		"-external-url", "http://"+g.addr(), "-public-host", g.addr(), "-log-level", "warn")
	if err != nil {
		return err
	}
	g.p = p
	return waitReady(p, 30*time.Second, func(ctx context.Context) error {
		status, body, err := getBody(ctx, "http://"+g.addr()+"/storage/v1/b")
		if err == nil && (status != 200 || !strings.Contains(body, "storage#buckets")) {
			err = fmt.Errorf("not fake-gcs-server: %d %.200s", status, body)
		}
		return err
	})
}

func (g *fakeGCS) stop() error { return g.p.stop(syscall.SIGTERM, 10*time.Second) }

func startFakeGCS(t *testing.T) *fakeGCS {
	t.Helper()
	bin := filepath.Join(workDir, "fake-gcs-server")
	if _, err := os.Stat(bin); err != nil {
		build := exec.Command("go", "build", "-o", bin, "github.com/fsouza/fake-gcs-server")
		build.Dir = repoRoot
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build fake-gcs-server: %v\n%s", err, out)
		}
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var port int
		if port, err = freePort(); err != nil {
			t.Fatal(err)
		}
		g := &fakeGCS{bin: bin, root: t.TempDir(), port: port}
		if err = g.start(); err == nil {
			t.Cleanup(func() { _ = g.p.stop(syscall.SIGTERM, 10*time.Second) })
			return g
		}
		_ = g.p.stop(syscall.SIGKILL, time.Second)
		if !errors.Is(err, errExited) {
			break
		}
	}
	t.Fatal(err)
	return nil
}

// emulator is a running Pub/Sub emulator.
type emulator struct {
	addr string
	p    *proc
}

// startEmulator starts the emulator on a free port; it retries on another
// port if the JVM could not bind. It takes several seconds (a JVM), so the
// callers overlap it with other start-up work.
func startEmulator() (*emulator, error) {
	if _, err := os.Stat(emulatorBin); err != nil {
		return nil, fmt.Errorf("Pub/Sub emulator missing (%v): install google-cloud-cli-pubsub-emulator (infra/setup/apt/functions.txt)", err)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	if jh := os.Getenv("JAVA_HOME"); jh != "" {
		env = append(env, "JAVA_HOME="+jh)
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var port int
		if port, err = freePort(); err != nil {
			return nil, err
		}
		var p *proc
		if p, err = startProc("pubsub-emulator", env, emulatorBin, "--host=127.0.0.1", "--port="+strconv.Itoa(port)); err != nil {
			return nil, err
		}
		e := &emulator{addr: fmt.Sprintf("127.0.0.1:%d", port), p: p}
		// It answers "Ok" to GET / once it serves.
		err = waitReady(p, 60*time.Second, func(ctx context.Context) error {
			status, body, err := getBody(ctx, "http://"+e.addr+"/")
			if err == nil && (status != 200 || strings.TrimSpace(body) != "Ok") {
				err = fmt.Errorf("not the emulator: %d %.200s", status, body)
			}
			return err
		})
		if err == nil {
			return e, nil
		}
		_ = p.stop(syscall.SIGKILL, 5*time.Second)
		if !errors.Is(err, errExited) {
			break
		}
	}
	return nil, err
}

// logLine is one JSON line of the server's log.
type logLine map[string]any

// serverLog parses the JSON lines bin/server printed so far. The framework
// prints unterminated warnings to stdout, so a line may start with one.
func serverLog(srv *server) []logLine {
	var out []logLine
	for _, line := range strings.Split(srv.output(), "\n") {
		i := strings.Index(line, `{"time"`)
		if i < 0 {
			continue
		}
		var l logLine
		if json.Unmarshal([]byte(line[i:]), &l) == nil {
			out = append(out, l)
		}
	}
	return out
}

// linesFor returns the log lines about Pub/Sub message messageID.
func linesFor(srv *server, messageID string) []logLine {
	var out []logLine
	for _, l := range serverLog(srv) {
		if l["message_id"] == messageID || l["event_id"] == messageID {
			out = append(out, l)
		}
	}
	return out
}

func count(lines []logLine, message string) int {
	n := 0
	for _, l := range lines {
		if l["message"] == message {
			n++
		}
	}
	return n
}

// TestPubSubBatch runs the batch path against real peers: the emulator
// pushes to bin/server's /pubsub, which writes to fake-gcs-server.
//
// Every wait is bounded by a few tens of seconds: the subscription's
// retry policy makes the emulator redeliver within 1-5 s (measured:
// 1.0, 2.7, 3.2, then 4 s apart), an execution takes about a second on a
// loaded machine, and the whole test is bounded by budget.
func TestPubSubBatch(t *testing.T) {
	needsLocalServer(t, "it points the server at a Pub/Sub emulator and a storage stand-in it starts, and stops the storage")
	const budget = 150 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()

	// The emulator (a JVM) starts while the rest does.
	type emuResult struct {
		e   *emulator
		err error
	}
	emuc := make(chan emuResult, 1)
	go func() { e, err := startEmulator(); emuc <- emuResult{e, err} }()
	var emuRes *emuResult
	awaitEmulator := func() emuResult {
		if emuRes == nil {
			r := <-emuc
			emuRes = &r
		}
		return *emuRes
	}
	t.Cleanup(func() {
		if e := awaitEmulator().e; e != nil {
			_ = e.p.stop(syscall.SIGTERM, 10*time.Second)
			if t.Failed() {
				t.Logf("emulator output:\n%s", tail(e.p.out.String()))
			}
		}
	})

	gcs := startFakeGCS(t)
	t.Setenv("STORAGE_EMULATOR_HOST", gcs.addr())
	sc, err := storage.NewClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if err := sc.Bucket(bucket).Create(ctx, project, nil); err != nil {
		t.Fatalf("create bucket: %v", err)
	}

	// API keys on, but /pubsub left to the platform, as on Cloud Run:
	// the emulator (like Pub/Sub) cannot send an API key.
	srv := mustStartServer(t,
		"RESULTS_BUCKET="+bucket, "RESULTS_PREFIX=batch", "STORAGE_EMULATOR_HOST="+gcs.addr(),
		"RESULTS_STORE_TIMEOUT=2s", "GOOGLE_CLOUD_PROJECT="+project,
		"API_KEYS="+testAPIKey, "PUBSUB_AUTH=platform")

	r := awaitEmulator()
	if r.err != nil {
		t.Fatal(r.err)
	}
	emu := r.e
	t.Setenv("PUBSUB_EMULATOR_HOST", emu.addr)

	ps, err := pubsub.NewClient(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	topicName := "projects/" + project + "/topics/" + topicID
	if _, err := ps.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topicName}); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	if _, err := ps.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name:  "projects/" + project + "/subscriptions/push",
		Topic: topicName,
		// As terraform/ sets it: the topic in the path.
		PushConfig: &pubsubpb.PushConfig{PushEndpoint: srv.url + "/pubsub/" + topicName},
		// Longer than any execution here takes even on a loaded
		// machine, so that a slow answer is not redelivered meanwhile.
		AckDeadlineSeconds: 60,
		RetryPolicy:        &pubsubpb.RetryPolicy{MinimumBackoff: durationpb.New(time.Second), MaximumBackoff: durationpb.New(5 * time.Second)},
	}); err != nil {
		t.Fatalf("create subscription: %v", err)
	}
	pub := ps.Publisher(topicName)
	defer pub.Stop()
	publish := func(t *testing.T, data string) string {
		t.Helper()
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		id, err := pub.Publish(pctx, &pubsub.Message{Data: []byte(data)}).Get(pctx)
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		return id
	}
	readObject := func(t *testing.T, id string, wait time.Duration) map[string]any {
		t.Helper()
		var body []byte
		ok := eventually(wait, func() bool {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			r, err := sc.Bucket(bucket).Object("batch/" + id + ".json").NewReader(rctx)
			if err != nil {
				return false
			}
			defer r.Close()
			body, err = io.ReadAll(r)
			return err == nil
		})
		if !ok {
			t.Fatalf("object batch/%s.json did not appear within %v\nserver:\n%s", id, wait, srv.logs())
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("object is not JSON: %v: %s", err, body)
		}
		return m
	}
	countObjects := func(t *testing.T, id string) int {
		t.Helper()
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		n := 0
		it := sc.Bucket(bucket).Objects(lctx, &storage.Query{Prefix: "batch/" + id})
		for {
			_, err := it.Next()
			if errors.Is(err, iterator.Done) {
				return n
			}
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	okCount := func(t *testing.T) float64 {
		return srv.metric(t, `python_api_executions_total{code="ok",path="pubsub"}`)
	}

	t.Run("submit command result appears", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "hello.py")
		if err := os.WriteFile(file, []byte("def main():\n print(\"Hello from IDE\")\n return {\"status\": \"ok\"}"), 0o600); err != nil {
			t.Fatal(err)
		}
		sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(sctx, serverBin, "submit", "--project", project, "--topic", topicID, "--id", "e2e-hello", file)
		cmd.Env = append(os.Environ(), "PUBSUB_EMULATOR_HOST="+emu.addr, "RESULTS_BUCKET="+bucket, "RESULTS_PREFIX=batch")
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("submit: %v\n%s", err, out)
		}
		m := regexp.MustCompile(`message_id=(\S+)\tid=e2e-hello\tresult=gs://` + bucket + `/batch/e2e-hello\.json`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("submit output: %q", out)
		}
		obj := readObject(t, "e2e-hello", 30*time.Second)
		if obj["id"] != "e2e-hello" || obj["message_id"] != string(m[1]) || obj["status"] != "ok" ||
			obj["http_status"] != 200.0 || obj["stdout"] != "Hello from IDE\n" {
			t.Fatalf("object: %v", obj)
		}
		if res, _ := obj["result"].(map[string]any); res["status"] != "ok" {
			t.Fatalf("result: %v", obj["result"])
		}
		if _, err := time.Parse(time.RFC3339Nano, obj["finished_at"].(string)); err != nil {
			t.Fatalf("finished_at: %v", err)
		}
		// With the topic in the push path the framework finds it (it
		// prints a WARNING on every delivery that lacks one).
		if out := srv.output(); strings.Contains(out, "functions framework: WARNING") {
			t.Fatalf("the framework warned about the push: %s", out)
		}
	})

	// A batch user's round trip: submit several files, wait for every
	// result, read the summary, find the results on disk; fetch one again.
	t.Run("submit waits and summarises", func(t *testing.T) {
		dir := t.TempDir()
		var files []string
		for name, src := range map[string]string{
			"ok1.py": "def main():\n    return 1", "ok2.py": "def main():\n    return 2", "bad.py": "def main():\n    return 1/0",
		} {
			f := filepath.Join(dir, name)
			if err := os.WriteFile(f, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		out := filepath.Join(dir, "results")
		sctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		defer cancel()
		env := append(os.Environ(), "PUBSUB_EMULATOR_HOST="+emu.addr, "RESULTS_BUCKET="+bucket, "RESULTS_PREFIX=batch")
		cmd := exec.CommandContext(sctx, serverBin, append([]string{"submit", "--project", project, "--topic", topicID,
			"--wait", "60s", "--out", out}, files...)...)
		cmd.Env, cmd.WaitDelay = env, 5*time.Second
		stdout, err := cmd.Output()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("submit --wait with one failing script: %v (want exit 1)\n%s", err, stdout)
		}
		summary := string(stdout[strings.Index(string(stdout), "ID "):])
		if strings.Count(summary, " ok ") != 2 || !strings.Contains(summary, "runtime_error") {
			t.Fatalf("summary:\n%s", summary)
		}
		written, _ := filepath.Glob(filepath.Join(out, "*.json"))
		if len(written) != 3 {
			t.Fatalf("results written: %v", written)
		}
		id := strings.TrimSuffix(filepath.Base(written[0]), ".json")
		fetch := exec.CommandContext(sctx, serverBin, "results", id)
		fetch.Env = env
		one, err := fetch.Output()
		if err != nil || !json.Valid(one) || !strings.Contains(string(one), `"id":"`+id+`"`) {
			t.Fatalf("results %s: %v\n%s", id, err, one)
		}
	})

	t.Run("files in a batch message, outputs stored as objects", func(t *testing.T) {
		publish(t, `{"script":"def main():\n    open('outputs/report.txt', 'w').write(open('in.txt').read().upper())\n    return 1","files":[{"name":"in.txt","content":"aGVsbG8="}],"id":"e2e-files"}`)
		obj := readObject(t, "e2e-files", 30*time.Second)
		files, _ := obj["files"].([]any)
		if obj["status"] != "ok" || len(files) != 1 {
			t.Fatalf("object: %v", obj)
		}
		f := files[0].(map[string]any)
		want := "gs://" + bucket + "/batch/e2e-files/files/report.txt"
		if f["object"] != want || f["content"] != nil || f["name"] != "report.txt" {
			t.Fatalf("file entry: %v", f)
		}
		r, err := sc.Bucket(bucket).Object("batch/e2e-files/files/report.txt").NewReader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if body, _ := io.ReadAll(r); string(body) != "HELLO" {
			t.Fatalf("stored output file: %q", body)
		}
	})

	t.Run("input in a batch message", func(t *testing.T) {
		publish(t, `{"script":"def main(data):\n    return sum(data)","input":[1,2,3],"id":"e2e-input"}`)
		obj := readObject(t, "e2e-input", 30*time.Second)
		if obj["status"] != "ok" || obj["result"] != 6.0 {
			t.Fatalf("object: %v", obj)
		}
		if u, _ := obj["usage"].(map[string]any); u == nil || u["wall_ms"] == nil {
			t.Fatalf("no usage in the batch object: %v", obj)
		}
	})

	t.Run("same id twice runs once", func(t *testing.T) {
		ok0 := okCount(t)
		msg := `{"script":"def main():\n    return 6 * 7","id":"e2e-dup"}`
		publish(t, msg)
		obj := readObject(t, "e2e-dup", 30*time.Second)
		second := publish(t, msg)
		if !eventually(30*time.Second, func() bool { return len(linesFor(srv, second)) > 0 }) {
			t.Fatalf("second delivery (message %s) never arrived\n%s", second, srv.logs())
		}
		if lines := linesFor(srv, second); count(lines, "duplicate delivery skipped") != 1 || count(lines, "execution") != 0 {
			t.Fatalf("second delivery was not skipped: %v", lines)
		}
		if got := okCount(t) - ok0; got != 1 {
			t.Fatalf("executions: %v, want 1", got)
		}
		if n := countObjects(t, "e2e-dup"); n != 1 {
			t.Fatalf("objects: %d", n)
		}
		if obj["result"] != 42.0 {
			t.Fatalf("object: %v", obj)
		}
	})

	t.Run("poison is recorded and not redelivered", func(t *testing.T) {
		mid := publish(t, "this is not JSON")
		obj := readObject(t, mid, 30*time.Second)
		e, _ := obj["error"].(map[string]any)
		if obj["status"] != "error" || obj["http_status"] != 400.0 || e["code"] != "invalid_request" || obj["id"] != mid {
			t.Fatalf("object: %v", obj)
		}
		// A redelivery would come within the retry policy's backoff
		// (1 s after a failed attempt) and log a duplicate.
		time.Sleep(3 * time.Second)
		if lines := linesFor(srv, mid); len(lines) != 1 || lines[0]["message"] != "execution" {
			t.Fatalf("poison message delivered more than once: %v", lines)
		}

		// A bad client id and a script error: acknowledged, named by the message id.
		mid = publish(t, `{"script":"def main():\n    return 1/0","id":"../../etc/x"}`)
		obj = readObject(t, mid, 30*time.Second)
		e, _ = obj["error"].(map[string]any)
		if obj["http_status"] != 422.0 || e["code"] != "runtime_error" || !strings.Contains(fmt.Sprint(obj["id_error"]), "message id") {
			t.Fatalf("object: %v", obj)
		}
	})

	// A burst of valid scripts, more than the slots and the queue hold,
	// on a server with a queue of one: every one is worked through, late,
	// and none is refused (each refusal would burn a delivery attempt, and
	// after a few the message is dead-lettered). Several subscriptions,
	// since the emulator runs only two push loops per subscription.
	t.Run("a burst is worked through without one refusal", func(t *testing.T) {
		busy := mustStartServer(t,
			"RESULTS_BUCKET="+bucket, "RESULTS_PREFIX=batch", "STORAGE_EMULATOR_HOST="+gcs.addr(),
			"RESULTS_STORE_TIMEOUT=2s", "GOOGLE_CLOUD_PROJECT="+project,
			"MAX_CONCURRENCY=2", "QUEUE_SIZE=1", "QUEUE_WAIT_MS=500", "BATCH_QUEUE_WAIT_MS=120000")
		const topics, perTopic = 4, 6
		var ids []string
		for i := 0; i < topics; i++ {
			name := fmt.Sprintf("projects/%s/topics/burst%d", project, i)
			if _, err := ps.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: name}); err != nil {
				t.Fatalf("create topic: %v", err)
			}
			if _, err := ps.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
				Name:               fmt.Sprintf("projects/%s/subscriptions/burst%d", project, i),
				Topic:              name,
				PushConfig:         &pubsubpb.PushConfig{PushEndpoint: busy.url + "/pubsub/" + name},
				AckDeadlineSeconds: 120,
			}); err != nil {
				t.Fatalf("create subscription: %v", err)
			}
			p := ps.Publisher(name)
			for j := 0; j < perTopic; j++ {
				id := fmt.Sprintf("burst-%d-%d", i, j)
				ids = append(ids, id)
				if _, err := p.Publish(ctx, &pubsub.Message{Data: []byte(`{"script":"import time\ndef main():\n    time.sleep(1)\n    return 1","id":"` + id + `"}`)}).Get(ctx); err != nil {
					t.Fatalf("publish: %v", err)
				}
			}
			p.Stop()
		}
		for _, id := range ids {
			if obj := readObject(t, id, 90*time.Second); obj["status"] != "ok" {
				t.Fatalf("%s: %v", id, obj)
			}
		}
		var refused int
		for _, l := range serverLog(busy) {
			if l["message"] == "batch delivery failed; Pub/Sub will retry" {
				refused++
			}
		}
		if refused != 0 {
			t.Fatalf("%d deliveries were refused (each burns an attempt)\n%s", refused, busy.logs())
		}
	})

	t.Run("storage outage retries until storage is back", func(t *testing.T) {
		if err := gcs.stop(); err != nil {
			t.Fatal(err)
		}
		mid := publish(t, `{"script":"def main():\n    return 'survived'","id":"e2e-outage"}`)
		failures := func() int { return count(linesFor(srv, mid), "batch delivery failed; Pub/Sub will retry") }
		if !eventually(30*time.Second, func() bool { return failures() >= 2 }) {
			t.Fatalf("no failed deliveries of %s seen while storage was down\n%s", mid, srv.logs())
		}
		if err := gcs.start(); err != nil {
			t.Fatal(err)
		}
		obj := readObject(t, "e2e-outage", 45*time.Second)
		if obj["result"] != "survived" || obj["status"] != "ok" {
			t.Fatalf("object: %v", obj)
		}
		t.Logf("%d failed deliveries before storage came back", failures())
		// Each failed delivery also made the framework print an error:
		// the log stays one JSON object per line all the same.
		for _, line := range strings.Split(srv.output(), "\n") {
			if line = strings.TrimSpace(line); line != "" && !json.Valid([]byte(line)) {
				t.Fatalf("a log line is not JSON: %q", line)
			}
		}
	})
}
