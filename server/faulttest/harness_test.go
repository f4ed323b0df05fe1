// Package faulttest proves the contract with real processes: bin/onecharge
// replicas (built once per test binary, as bin/stripesim is) on one
// PostgreSQL, a Stripe simulator they share, toxiproxy on their links, and
// SIGKILL, pg_ctl restart -m immediate and toxics as the faults.
//
//   - TestFaultCampaign (campaign_test.go): the campaign; shoppers in
//     shopper_test.go, the final checks of I1–I6 in checks_test.go, the
//     links and the simulator in net_test.go, the suite's own PostgreSQL
//     cluster in cluster_test.go. ONECHARGE_SOAK=30m makes it longer
//     (make soak).
//   - TestKilledReplicaFreesKey (liveness_test.go): how long a key stays
//     blocked after the replica holding it in a Stripe call is killed.
//   - TestOutageMidRequest (outage_test.go): a database outage in the
//     middle of a request neither wedges it nor its key.
//
// Under CI=true a missing PostgreSQL, pg_ctl or binary fails the tests;
// otherwise they are skipped, saying why.
package faulttest

// The harness: real bin/onecharge processes and their logs.

import (
	"bufio"
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

	"github.com/onecharge/onecharge/server/testenv"
)

// serverBin and simBin are the onecharge and stripesim binaries under
// test, built by TestMain.
var serverBin, simBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "onecharge-faulttest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	serverBin, simBin = filepath.Join(dir, "onecharge"), filepath.Join(dir, "stripesim")
	for bin, pkg := range map[string]string{serverBin: "./server/cmd/onecharge", simBin: "./server/cmd/stripesim"} {
		if out, err := build(bin, pkg); err != nil {
			fmt.Fprintf(os.Stderr, "faulttest: build %s: %v\n%s", pkg, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	if p := reportFile(); p != "" {
		_ = os.Remove(p)
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

// Replica is one running bin/onecharge.
type Replica struct {
	Name string
	URL  string // as of the last start; see BaseURL
	env  []string
	cmd  *exec.Cmd
	logs *testenv.SyncBuffer
	done chan struct{}

	mu   sync.Mutex
	base string // URL, for other goroutines
	up   bool   // started and not killed since
}

// BaseURL is the replica's URL as of its last start (a restarted replica
// listens on another port) and whether it runs.
func (r *Replica) BaseURL() (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.base, r.up
}

var listening = regexp.MustCompile(`onecharge listening on (\S+)`)

// startReplica starts bin/onecharge with env (PORT=0 unless set) and waits
// until it is ready (it listens at once and migrates in the background).
// It is killed when the test ends; its log is shown if the test failed.
func startReplica(t testing.TB, name string, env map[string]string) *Replica {
	t.Helper()
	r := launchReplica(t, name, env)
	r.WaitReady(t, 60*time.Second)
	return r
}

// launchReplica is startReplica without waiting for readiness.
func launchReplica(t testing.TB, name string, env map[string]string) *Replica {
	t.Helper()
	r := &Replica{Name: name, logs: &testenv.SyncBuffer{}}
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
			t.Logf("--- %s log (last 16 KiB):\n%s", r.Name, tail(r.logs.String(), 16<<10))
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
		r.mu.Lock()
		r.base, r.up = r.URL, true
		r.mu.Unlock()
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
	r.mu.Lock()
	r.up = false
	r.mu.Unlock()
}

// WaitReady waits until GET /readyz answers 200.
func (r *Replica) WaitReady(t testing.TB, within time.Duration) {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(within)
	for {
		resp, err := c.Get(r.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-r.done:
			t.Fatalf("%s exited:\n%s", r.Name, r.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within %v (last: %v):\n%s", r.Name, within, err, r.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Restart starts the replica again with the same environment and waits
// until it is ready.
func (r *Replica) Restart(t testing.TB) {
	t.Helper()
	r.Relaunch(t)
	r.WaitReady(t, 60*time.Second)
}

// Relaunch starts the replica again and returns once it listens.
func (r *Replica) Relaunch(t testing.TB) {
	t.Helper()
	r.Kill()
	r.start(t)
}

// rawClient is one browser sending hand-made requests: its own cookie
// jar, so its own user on every replica (they share SESSION_SECRET).
type rawClient struct {
	http *http.Client
}

func newRawClient() *rawClient {
	jar, _ := cookiejar.New(nil)
	return &rawClient{http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

type answer struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// do sends a JSON request to base+path, with the shopper's cookies (they
// are per host: every replica is localhost, so one jar serves them all).
func (s *rawClient) do(ctx context.Context, method, base, path, body string, header map[string]string) answer {
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
