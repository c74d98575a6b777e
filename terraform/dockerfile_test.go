package terraform

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction with its continuation lines joined.
type instruction struct {
	cmd, args string
	line      int
}

func parseDockerfile(src string) []instruction {
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(trimmed, "#") {
			continue // comment inside a continued instruction
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start})
		cur.Reset()
	}
	return out
}

// wantStages are the FROM lines the issue fixes: the three public images the
// local stand-ins (infra/image/base-images.sh) replace, and their roles.
var wantStages = []string{
	"docker.io/library/node:24-bookworm-slim AS client",
	"docker.io/library/golang:1.26-bookworm AS server",
	"docker.io/library/debian:bookworm-slim AS rootfs",
	"docker.io/library/debian:bookworm-slim",
}

func checkDockerfile(src, baseScript string) []string {
	ins := parseDockerfile(src)
	var out []string
	var froms []string
	has := func(cmd, sub string, inStage int) bool {
		s := -1
		for _, in := range ins {
			if in.cmd == "FROM" {
				s++
			}
			if in.cmd == cmd && strings.Contains(in.args, sub) && (inStage < 0 || s == inStage) {
				return true
			}
		}
		return false
	}
	for _, in := range ins {
		switch in.cmd {
		case "FROM":
			froms = append(froms, in.args)
		case "HEALTHCHECK":
			out = append(out, fmt.Sprintf("line %d: HEALTHCHECK (Cloud Run probes /healthz; the image stays healthcheck-free)", in.line))
		case "USER":
			out = append(out, fmt.Sprintf("line %d: USER %s: the server must start as root to build each jail", in.line, in.args))
		case "ARG":
			// VERSION only names the build in /healthz; anything else
			// would let a build argument change what the image does.
			if !strings.HasPrefix(in.args, "VERSION=") {
				out = append(out, fmt.Sprintf("line %d: ARG %s: one image for every environment, no build arguments but VERSION", in.line, in.args))
			}
		}
	}
	if !slices.Equal(froms, wantStages) {
		out = append(out, fmt.Sprintf("FROM lines %q, want %q", froms, wantStages))
	}
	last := len(wantStages) - 1
	for _, want := range []struct{ cmd, sub string }{
		{"COPY", "--from=server /out/server /app/server"},
		{"COPY", "--from=rootfs /rootfs /opt/python-api/rootfs"},
		{"ENV", "SANDBOX_ROOTFS=/opt/python-api/rootfs"},
		{"ENV", "SANDBOX_MODE=auto"},
		{"EXPOSE", "8080"},
		{"ENTRYPOINT", `["/app/server"]`},
	} {
		if !has(want.cmd, want.sub, last) {
			out = append(out, fmt.Sprintf("runtime stage lacks %s %s", want.cmd, want.sub))
		}
	}
	for _, want := range []struct {
		cmd, sub string
		stage    int
	}{
		{"RUN", "npm ci", 0},
		{"RUN", "npm run build", 0},
		{"COPY", "--from=client /src/client/dist ./client/dist", 1},
		{"ENV", "CGO_ENABLED=0", 1},
		{"RUN", `go build -trimpath -ldflags="-s -w -X python-api/function.version=${VERSION}" -o /out/server ./cmd/server`, 1},
		{"RUN", "infra/build-rootfs.sh /rootfs", 2},
	} {
		if !has(want.cmd, want.sub, want.stage) {
			out = append(out, fmt.Sprintf("stage %d lacks %s %s", want.stage, want.cmd, want.sub))
		}
	}
	// The local stand-ins must carry exactly these names, or podman build
	// here would try (and fail) to pull.
	for _, f := range froms {
		img, _, _ := strings.Cut(f, " ")
		if !strings.Contains(baseScript, img) {
			out = append(out, "infra/image/base-images.sh does not provide "+img)
		}
	}
	return out
}

func TestDockerfile(t *testing.T) {
	src, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	base, err := os.ReadFile("../infra/image/base-images.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkDockerfile(string(src), string(base)) {
		t.Error(p)
	}
}

// TestDockerignore: what `gcloud builds submit` uploads (.gcloudignore) and
// what the Dockerfile's build context holds (.dockerignore) both leave out
// the host's build outputs.
func TestDockerignore(t *testing.T) {
	for _, file := range []string{"../.dockerignore", "../.gcloudignore"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		lines := map[string]bool{}
		for _, l := range strings.Split(string(b), "\n") {
			lines[strings.TrimSpace(l)] = true
		}
		// Host build outputs must not leak into the context: the image
		// rebuilds them, and a stale client/dist or runtime tree would hide
		// a broken step (and make every upload hundreds of MB).
		for _, want := range []string{".git", "bin", "build", "client/node_modules", "client/dist", "terraform/.terraform", "terraform/*.tfstate*"} {
			if !lines[want] {
				t.Errorf("%s does not exclude %s", file, want)
			}
		}
	}
}

func TestDockerfileCheckCatchesBreakage(t *testing.T) {
	src, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	base, err := os.ReadFile("../infra/image/base-images.sh")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, old, new string }{
		{"healthcheck", `ENTRYPOINT ["/app/server"]`, "HEALTHCHECK CMD true\nENTRYPOINT [\"/app/server\"]"},
		{"non-root", `ENTRYPOINT ["/app/server"]`, "USER 65534\nENTRYPOINT [\"/app/server\"]"},
		{"cgo", "ENV CGO_ENABLED=0", "ENV CGO_ENABLED=1"},
		{"other rootfs", "bash /src/infra/build-rootfs.sh /rootfs", "bash /src/infra/other.sh /rootfs"},
		{"build arg", "FROM docker.io/library/golang:1.26-bookworm AS server", "ARG PROFILE=cloud\nFROM docker.io/library/golang:1.26-bookworm AS server"},
		{"unknown base", "FROM docker.io/library/node:24-bookworm-slim AS client", "FROM docker.io/library/node:20-bookworm-slim AS client"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if n := strings.Count(string(src), tc.old); n != 1 {
				t.Fatalf("%q occurs %d times, want 1 (update this case)", tc.old, n)
			}
			broken := strings.Replace(string(src), tc.old, tc.new, 1)
			if p := checkDockerfile(broken, string(base)); len(p) == 0 {
				t.Errorf("check did not notice: %s", tc.name)
			} else {
				t.Logf("%v", p)
			}
		})
	}
}
