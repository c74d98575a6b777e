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
	return waitTCP(g.addr(), p, 30*time.Second)
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
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	g := &fakeGCS{bin: bin, root: t.TempDir(), port: port}
	if err := g.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.p.stop(syscall.SIGTERM, 10*time.Second) })
	return g
}

func startEmulator(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(emulatorBin); err != nil {
		t.Fatalf("Pub/Sub emulator missing (%v): install google-cloud-cli-pubsub-emulator (infra/setup/apt/functions.txt)", err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	if jh := os.Getenv("JAVA_HOME"); jh != "" {
		env = append(env, "JAVA_HOME="+jh)
	}
	p, err := startProc("pubsub-emulator", env, emulatorBin, "--host=127.0.0.1", "--port="+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.stop(syscall.SIGTERM, 10*time.Second)
		if t.Failed() {
			t.Logf("emulator output:\n%s", tail(p.out.String()))
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitTCP(addr, p, 90*time.Second); err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestPubSubBatch runs the batch path against real peers: the emulator
// pushes to bin/server's /pubsub, which writes to fake-gcs-server.
func TestPubSubBatch(t *testing.T) {
	gcs := startFakeGCS(t)
	emu := startEmulator(t)
	t.Setenv("PUBSUB_EMULATOR_HOST", emu)
	t.Setenv("STORAGE_EMULATOR_HOST", gcs.addr())
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

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
		Name:               "projects/" + project + "/subscriptions/push",
		Topic:              topicName,
		PushConfig:         &pubsubpb.PushConfig{PushEndpoint: srv.url + "/pubsub"},
		AckDeadlineSeconds: 30,
		RetryPolicy:        &pubsubpb.RetryPolicy{MinimumBackoff: durationpb.New(time.Second), MaximumBackoff: durationpb.New(5 * time.Second)},
	}); err != nil {
		t.Fatalf("create subscription: %v", err)
	}
	pub := ps.Publisher(topicName)
	defer pub.Stop()
	publish := func(t *testing.T, data string) string {
		t.Helper()
		id, err := pub.Publish(ctx, &pubsub.Message{Data: []byte(data)}).Get(ctx)
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		return id
	}
	readObject := func(t *testing.T, id string, wait time.Duration) map[string]any {
		t.Helper()
		var body []byte
		ok := eventually(wait, func() bool {
			r, err := sc.Bucket(bucket).Object("batch/" + id + ".json").NewReader(ctx)
			if err != nil {
				return false
			}
			defer r.Close()
			body, err = io.ReadAll(r)
			return err == nil
		})
		if !ok {
			t.Fatalf("object batch/%s.json did not appear within %v\nserver:\n%s", id, wait, tail(srv.out.String()))
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("object is not JSON: %v: %s", err, body)
		}
		return m
	}
	countObjects := func(t *testing.T, id string) int {
		t.Helper()
		n := 0
		it := sc.Bucket(bucket).Objects(ctx, &storage.Query{Prefix: "batch/" + id})
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
	dupCount := func(t *testing.T) float64 { return srv.metric(t, "python_api_batch_duplicates_total") }

	t.Run("submit command result appears", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "hello.py")
		if err := os.WriteFile(file, []byte("def main():\n print(\"Hello from IDE\")\n return {\"status\": \"ok\"}"), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(ctx, serverBin, "submit", "--project", project, "--topic", topicID, "--id", "e2e-hello", file)
		cmd.Env = append(os.Environ(), "PUBSUB_EMULATOR_HOST="+emu, "RESULTS_BUCKET="+bucket, "RESULTS_PREFIX=batch")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("submit: %v\n%s", err, out)
		}
		m := regexp.MustCompile(`message_id=(\S+)\tid=e2e-hello\tresult=gs://` + bucket + `/batch/e2e-hello\.json`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("submit output: %q", out)
		}
		obj := readObject(t, "e2e-hello", 60*time.Second)
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
	})

	t.Run("same id twice runs once", func(t *testing.T) {
		ok0, dup0 := okCount(t), dupCount(t)
		msg := `{"script":"def main():\n    return 6 * 7","id":"e2e-dup"}`
		publish(t, msg)
		obj := readObject(t, "e2e-dup", 60*time.Second)
		publish(t, msg)
		if !eventually(60*time.Second, func() bool { return dupCount(t) > dup0 }) {
			t.Fatalf("second delivery never arrived/skipped\n%s", tail(srv.out.String()))
		}
		time.Sleep(time.Second)
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
		dup0 := dupCount(t)
		bad0 := srv.metric(t, `python_api_executions_total{code="invalid_request",path="pubsub"}`)
		mid := publish(t, "this is not JSON")
		obj := readObject(t, mid, 60*time.Second)
		e, _ := obj["error"].(map[string]any)
		if obj["status"] != "error" || obj["http_status"] != 400.0 || e["code"] != "invalid_request" || obj["id"] != mid {
			t.Fatalf("object: %v", obj)
		}
		// A redelivery would be counted as a duplicate (or another
		// invalid_request); give the emulator time to try.
		time.Sleep(5 * time.Second)
		if dupCount(t) != dup0 || srv.metric(t, `python_api_executions_total{code="invalid_request",path="pubsub"}`) != bad0+1 {
			t.Fatalf("poison message was redelivered")
		}

		// A bad client id and a script error: acknowledged, named by the message id.
		mid = publish(t, `{"script":"def main():\n    return 1/0","id":"../../etc/x"}`)
		obj = readObject(t, mid, 60*time.Second)
		e, _ = obj["error"].(map[string]any)
		if obj["http_status"] != 422.0 || e["code"] != "runtime_error" || !strings.Contains(fmt.Sprint(obj["id_error"]), "message id") {
			t.Fatalf("object: %v", obj)
		}
	})

	t.Run("storage outage retries until storage is back", func(t *testing.T) {
		if err := gcs.stop(); err != nil {
			t.Fatal(err)
		}
		failures := func() int { return strings.Count(srv.out.String(), "batch delivery failed") }
		f0 := failures()
		publish(t, `{"script":"def main():\n    return 'survived'","id":"e2e-outage"}`)
		if !eventually(60*time.Second, func() bool { return failures() >= f0+2 }) {
			t.Fatalf("no failed deliveries seen while storage was down\n%s", tail(srv.out.String()))
		}
		if err := gcs.start(); err != nil {
			t.Fatal(err)
		}
		obj := readObject(t, "e2e-outage", 120*time.Second)
		if obj["result"] != "survived" || obj["status"] != "ok" {
			t.Fatalf("object: %v", obj)
		}
		t.Logf("%d failed deliveries before storage came back", failures()-f0)
	})
}
