package faulttest

// The harness: real bin/onecharge processes (built once per test binary)
// on one PostgreSQL database, and a Stripe simulator they share.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// serverBin is the onecharge binary under test, built by TestMain.
var serverBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "onecharge-faulttest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	serverBin = filepath.Join(dir, "onecharge")
	if out, err := build(serverBin, "./server/cmd/onecharge"); err != nil {
		fmt.Fprintf(os.Stderr, "faulttest: build onecharge: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build runs go build for pkg (relative to the module root) into out.
func build(out, pkg string) ([]byte, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	return cmd.CombinedOutput()
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

// syncBuffer collects a process's output for the failure report.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// Replica is one running bin/onecharge.
type Replica struct {
	Name string
	URL  string
	env  []string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
}

var listening = regexp.MustCompile(`onecharge listening on (\S+)`)

// startReplica starts bin/onecharge with env (PORT=0 unless set) and waits
// until it listens. It is killed when the test ends; its log is shown if
// the test failed.
func startReplica(t testing.TB, name string, env map[string]string) *Replica {
	t.Helper()
	r := &Replica{Name: name, logs: &syncBuffer{}}
	vars := map[string]string{"PORT": "0"}
	for k, v := range env {
		vars[k] = v
	}
	for k, v := range vars {
		r.env = append(r.env, k+"="+v)
	}
	r.start(t)
	t.Cleanup(func() {
		r.Kill()
		if t.Failed() {
			t.Logf("--- %s log:\n%s", r.Name, r.logs.String())
		}
	})
	return r
}

func (r *Replica) start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(serverBin, "-web", t.TempDir())
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}, r.env...)
	cmd.Stderr = r.logs
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	r.cmd, r.done = cmd, make(chan struct{})
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(r.logs, sc.Text())
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { _ = cmd.Wait(); close(r.done) }()
	select {
	case r.URL = <-urls:
	case <-r.done:
		t.Fatalf("%s exited at start-up:\n%s", r.Name, r.logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not listen within 30s:\n%s", r.Name, r.logs.String())
	}
}

// Kill sends SIGKILL, as a crashed machine or the OOM killer would: no
// shutdown, no clean-up, a request in flight just ends.
func (r *Replica) Kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
}

// Restart starts the replica again with the same environment.
func (r *Replica) Restart(t testing.TB) {
	t.Helper()
	r.Kill()
	r.start(t)
}

// shopper is one browser: its own cookie jar, so its own user on every
// replica (they share SESSION_SECRET).
type shopper struct {
	http *http.Client
}

func newShopper() *shopper {
	jar, _ := cookiejar.New(nil)
	return &shopper{http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

type answer struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// do sends a JSON request to base+path, with the shopper's cookies (they
// are per host: every replica is localhost, so one jar serves them all).
func (s *shopper) do(ctx context.Context, method, base, path, body string, header map[string]string) answer {
	req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: b, err: err}
}
