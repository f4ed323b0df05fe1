// Command serverbench measures the server end to end under load, each
// figure against its floor of CONTRACT.md section 8 in the same run, and
// prints `go test -bench` lines for tools/benchreport (make bench):
//
//	BenchmarkServerCartPG/cN                PUT /api/cart, PostgreSQL store
//	BenchmarkServerCartPG/cNFloorPgx          a minimal net/http + pgx/v5 handler running
//	                                          the same SQL (ProductsByID, UpsertCart)
//	BenchmarkServerReplayPG/cN              POST /api/orders/validate replaying a valid
//	                                          key, PostgreSQL store
//	BenchmarkServerReplayPG/cNFloorPgbench    pgbench running the same SQL (Lookup's
//	                                          pipelined batch, ReplayKey), -M prepared
//	BenchmarkServerReplayPG/cNFloorPgx        a minimal net/http + pgx/v5 handler running it
//	BenchmarkServerReplayMem/cN             the same replay, memory store
//	BenchmarkServerReplayMem/cNFloorJSON      a minimal net/http JSON handler
//
// Each line is one run: throughput (req/s), p50 and p99 latency, the
// answers that were neither 2xx nor a contract 409 (errors) and the 409s.
// The HTTP load is wrk (same threads, connections and duration for a
// figure and its floors) rotating over the shoppers' requests; pgbench
// runs with as many clients and threads. Every run of a round is
// followed by the same runs of its floors, in an order that rotates from
// round to round, so drift on a shared machine hits figure and floor
// alike; benchreport takes medians over the rounds.
//
// It starts what it measures as processes of their own: bin/onecharge
// twice (DATABASE_URL, and the memory store), each with the embedded
// Stripe simulator, and the floors (serverbench floor -kind ...). The
// shoppers (-shoppers, default 200) each have their own session cookie
// and a validated key whose card was declined once (see prepare), so
// every replay is the lean path. PostgreSQL should be durable (fsync on:
// scripts/bench.sh starts it with PG_DURABLE=1).
//
// With -profile-server (a build with -tags pprof), it then profiles each
// path at the highest concurrency: a CPU profile of the server while wrk
// drives it, written to -profile-dir with a `go tool pprof -top` of it.
//
//	go run ./tools/serverbench -server bin/onecharge -db "$TEST_DATABASE_URL" [-rounds 5] [-duration 5s] [-conns 8,32]
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

var (
	serverBin   = flag.String("server", "bin/onecharge", "the server binary (make build)")
	dbURL       = flag.String("db", os.Getenv("TEST_DATABASE_URL"), "PostgreSQL, durable (default $TEST_DATABASE_URL)")
	rounds      = flag.Int("rounds", 5, "rounds: each runs every figure and floor once per concurrency")
	duration    = flag.Duration("duration", 5*time.Second, "length of each run (whole seconds)")
	warmup      = flag.Duration("warmup", 2*time.Second, "length of the warm-up run of each target")
	connsFlag   = flag.String("conns", "8,32", "concurrencies (wrk connections, pgbench clients)")
	threads     = flag.Int("threads", 2, "wrk and pgbench threads")
	nShoppers   = flag.Int("shoppers", 200, "shoppers, each with its own cookie and key")
	profServer  = flag.String("profile-server", "", "a server binary built with -tags pprof: profile each path with it")
	profDir     = flag.String("profile-dir", "bin/profiles", "where the CPU profiles go")
	profSeconds = flag.Int("profile-seconds", 10, "length of each CPU profile")
	only        = flag.String("only", "", "run only the paths whose name contains this (Cart, ReplayPG, ReplayMem)")
	serverQuery = flag.String("server-db-params", "", "parameters added to the servers' DATABASE_URL only, for experiments (pool_max_conns=16)")
	serverEnv   = flag.String("server-env", "", "comma-separated VAR=value added to the servers' environment only, for experiments (GOGC=400)")
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "floor" {
		if err := floorMain(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "serverbench floor:", err)
			os.Exit(1)
		}
		return
	}
	flag.Parse()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { <-sig; procs.stopAll(); os.Exit(130) }()
	err := run()
	procs.stopAll()
	if err != nil {
		fmt.Fprintln(os.Stderr, "serverbench:", err)
		os.Exit(1)
	}
}

// target is one thing driven under load: a figure or a floor.
type target struct {
	name string
	run  func(conns int, d time.Duration) (result, error)
}

// path is a figure and its floors.
type path struct {
	figure target
	floors []target
}

func run() error {
	if *dbURL == "" {
		return errors.New("no database: -db or TEST_DATABASE_URL (make bench starts a durable PostgreSQL)")
	}
	var conns []int
	for _, s := range strings.Split(*connsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-conns: %q", *connsFlag)
		}
		conns = append(conns, n)
	}
	maxConns := 0
	for _, c := range conns {
		maxConns = max(maxConns, c)
	}
	tmp, err := os.MkdirTemp("", "serverbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	wrk, err := newWrk(tmp, *threads)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}

	if err := checkDurable(*dbURL); err != nil {
		return err
	}
	logf("starting servers (%s) and floors", *serverBin)
	serverDB := *dbURL
	if *serverQuery != "" {
		sep := "?"
		if strings.Contains(serverDB, "?") {
			sep = "&"
		}
		serverDB += sep + *serverQuery
	}
	pgURL, err := startServer(*serverBin, tmp, "pg", []string{"DATABASE_URL=" + serverDB})
	if err != nil {
		return err
	}
	memURL, err := startServer(*serverBin, tmp, "mem", nil)
	if err != nil {
		return err
	}
	jsonFloor, err := startProc(self, tmp, "floor-json", nil, "floor listening on ", "floor", "-kind", "json")
	if err != nil {
		return err
	}
	pgxFloor, err := startProc(self, tmp, "floor-pgx", nil, "floor listening on ", "floor", "-kind", "pgx", "-db", *dbURL, "-maxconns", strconv.Itoa(maxConns))
	if err != nil {
		return err
	}

	logf("preparing %d shoppers on each server", *nShoppers)
	pgShoppers, err := prepare(pgURL, *nShoppers)
	if err != nil {
		return err
	}
	memShoppers, err := prepare(memURL, *nShoppers)
	if err != nil {
		return err
	}
	files := map[string]string{}
	for name, spec := range map[string]struct {
		method, path string
		shoppers     []shopper
		body         func(shopper) []byte
	}{
		"cart-pg":    {http.MethodPut, "/api/cart", pgShoppers, shopper.cartBody},
		"replay-pg":  {http.MethodPost, "/api/orders/validate", pgShoppers, shopper.replayBody},
		"replay-mem": {http.MethodPost, "/api/orders/validate", memShoppers, shopper.replayBody},
	} {
		files[name] = filepath.Join(tmp, name+".txt")
		if err := writeRequests(files[name], spec.method, spec.path, spec.shoppers, spec.body); err != nil {
			return err
		}
	}
	pgb, err := newPgbench(context.Background(), tmp, *dbURL, pgShoppers, *threads)
	if err != nil {
		return err
	}
	http1 := func(name, base, file string) target {
		return target{name, func(c int, d time.Duration) (result, error) { return wrk.runCPU(base, file, c, d) }}
	}
	paths := []path{
		{http1("ServerCartPG", pgURL, files["cart-pg"]), []target{http1("FloorPgx", pgxFloor, files["cart-pg"])}},
		{http1("ServerReplayPG", pgURL, files["replay-pg"]), []target{
			{"FloorPgbench", pgb.run},
			http1("FloorPgx", pgxFloor, files["replay-pg"]),
		}},
		{http1("ServerReplayMem", memURL, files["replay-mem"]), []target{http1("FloorJSON", jsonFloor, files["replay-mem"])}},
	}
	if *only != "" {
		var keep []path
		for _, p := range paths {
			if strings.Contains(p.figure.name, *only) {
				keep = append(keep, p)
			}
		}
		paths = keep
	}

	logf("warming up (%s each at c=%d)", *warmup, maxConns)
	for _, p := range paths {
		for _, t := range append([]target{p.figure}, p.floors...) {
			if _, err := t.run(maxConns, *warmup); err != nil {
				return err
			}
		}
	}
	logf("%d rounds of %s runs, concurrency %v, %d wrk/pgbench threads", *rounds, *duration, conns, *threads)
	for r := 0; r < *rounds; r++ {
		for _, c := range conns {
			for _, p := range paths {
				ts := append([]target{p.figure}, p.floors...)
				for k := range ts {
					t := ts[(k+r)%len(ts)] // rotate who goes first
					res, err := t.run(c, *duration)
					if err != nil {
						return err
					}
					name := fmt.Sprintf("%s/c%d", p.figure.name, c)
					if t.name != p.figure.name {
						name += t.name
					}
					cpu := ""
					if res.CPUPerReq > 0 {
						cpu = fmt.Sprintf(" %.1f cpu-us/req", float64(res.CPUPerReq.Nanoseconds())/1e3)
					}
					fmt.Printf("Benchmark%s 1 %.1f req/s %d p50-us %d p99-us %d errors %d 409s%s\n", name, res.RPS,
						res.P50.Microseconds(), res.P99.Microseconds(), res.unexpected(), res.Status["409"], cpu)
					if res.LoadCPUPerReq > 0 {
						cpu += fmt.Sprintf(" (load tool %.1f)", float64(res.LoadCPUPerReq.Nanoseconds())/1e3)
					}
					logf("round %d  %-36s %9.0f req/s  p50 %7s  p99 %7s %s  status %v", r+1, name, res.RPS,
						res.P50.Round(10*time.Microsecond), res.P99.Round(10*time.Microsecond), cpu, statusLine(res))
				}
			}
		}
	}
	for name, base := range map[string]string{"pg": pgURL, "mem": memURL} {
		if err := checkLogs(tmp, name, base); err != nil {
			return err
		}
	}
	procs.reportMemory()
	if *profServer != "" {
		return profile(wrk, tmp, files, maxConns)
	}
	return nil
}

// checkDurable says whether commits wait for the disk: the figures of
// the PostgreSQL paths are meant with fsync on, as in production.
func checkDurable(url string) error {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer conn.Close(ctx)
	var fsync, syncCommit string
	if err := conn.QueryRow(ctx, "select current_setting('fsync'), current_setting('synchronous_commit')").Scan(&fsync, &syncCommit); err != nil {
		return err
	}
	if fsync != "on" || syncCommit == "off" {
		logf("WARNING: PostgreSQL runs with fsync=%s synchronous_commit=%s: commits do not wait for the disk (PG_DURABLE=1 scripts/with-postgres.sh starts a durable one)", fsync, syncCommit)
	} else {
		logf("PostgreSQL: fsync=%s synchronous_commit=%s", fsync, syncCommit)
	}
	return nil
}

func statusLine(r result) string {
	var b strings.Builder
	for k, v := range r.Status {
		fmt.Fprintf(&b, "%s:%d ", k, v)
	}
	if r.SockErrors > 0 {
		fmt.Fprintf(&b, "socket-errors:%d", r.SockErrors)
	}
	return strings.TrimSpace(b.String())
}

// checkLogs reports what a server logged at error level.
func checkLogs(dir, name, base string) error {
	data, err := os.ReadFile(filepath.Join(dir, name+".log"))
	if err != nil {
		return err
	}
	// wrk closes its connections when a run ends: the requests in
	// flight then fail with "context canceled", which no client sees.
	var errs []string
	canceled := 0
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case !strings.Contains(line, "level=ERROR"):
		case strings.Contains(line, "context canceled"):
			canceled++
		default:
			errs = append(errs, line)
		}
	}
	logf("server %s (%s): %d errors logged, besides %d requests cancelled by wrk's closing its connections at the end of a run", name, base, len(errs), canceled)
	if len(errs) > 0 {
		logf("the last errors:\n%s", strings.Join(errs[max(0, len(errs)-10):], "\n"))
	}
	return nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "serverbench: "+format+"\n", args...)
}

// pids maps the URL of each process started here to its pid.
var pids sync.Map

// Processes started here, stopped at the end (or on a signal).
type procList struct {
	mu    sync.Mutex
	procs []*exec.Cmd
}

var procs procList

func (l *procList) add(c *exec.Cmd) { l.mu.Lock(); l.procs = append(l.procs, c); l.mu.Unlock() }

// reportMemory logs the peak resident memory (VmHWM) of each process.
func (l *procList) reportMemory() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.procs {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.Process.Pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				logf("peak resident memory of %s: %s", strings.Join(c.Args, " ")[:min(60, len(strings.Join(c.Args, " ")))], strings.TrimSpace(v))
			}
		}
	}
}

func (l *procList) stopAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.procs {
		_ = c.Process.Signal(syscall.SIGTERM)
	}
	for _, c := range l.procs {
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = c.Process.Kill()
		}
	}
	l.procs = nil
}

// startServer starts bin/onecharge on a free port with env added; its
// log goes to dir/name.log.
func startServer(bin, dir, name string, env []string) (string, error) {
	env = append(env, "PORT=0", "SESSION_SECRET=serverbench-session-secret-0123456789abcdef")
	if *serverEnv != "" {
		env = append(env, strings.Split(*serverEnv, ",")...)
	}
	u, err := startProc(bin, dir, name, env, "onecharge listening on ", "-web", filepath.Join(dir, "no-web"))
	if err != nil {
		return "", err
	}
	// wrk and the floors use 127.0.0.1: "localhost" may be ::1 first.
	local := strings.Replace(u, "://localhost:", "://127.0.0.1:", 1)
	if pid, ok := pids.Load(u); ok {
		pids.Store(local, pid)
	}
	// The server listens before its store is ready (it migrates in the
	// background): wait for /readyz.
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get(local + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return local, nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s: /readyz did not answer 200 within 60s (last: %v)", name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startProc starts a program whose stdout prints prefix+URL once it
// listens, and returns that URL.
func startProc(bin, dir, name string, env []string, prefix string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	logFile, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return "", err
	}
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	procs.add(cmd)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), prefix); ok {
				found <- strings.TrimSpace(u)
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case u := <-found:
		pids.Store(u, cmd.Process.Pid)
		return u, nil
	case <-time.After(60 * time.Second):
		log, _ := os.ReadFile(logFile.Name())
		return "", fmt.Errorf("%s did not start listening within 60s:\n%s", name, tail(string(log), 20))
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// profile starts the pprof build of the server (same database, same
// session secret, so the PostgreSQL shoppers stay valid; the memory store
// gets shoppers of its own) and takes a CPU profile of each path while
// wrk drives it at conns.
func profile(wrk *wrkRunner, tmp string, files map[string]string, conns int) error {
	if err := os.MkdirAll(*profDir, 0o755); err != nil {
		return err
	}
	type srv struct{ url, pprof string }
	start := func(name string, env []string) (srv, error) {
		port, err := freePort()
		if err != nil {
			return srv{}, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		u, err := startServer(*profServer, tmp, name, append(env, "ONECHARGE_PPROF_ADDR="+addr))
		return srv{u, "http://" + addr}, err
	}
	pg, err := start("pprof-pg", []string{"DATABASE_URL=" + *dbURL})
	if err != nil {
		return err
	}
	mem, err := start("pprof-mem", nil)
	if err != nil {
		return err
	}
	memShoppers, err := prepare(mem.url, *nShoppers)
	if err != nil {
		return err
	}
	memFile := filepath.Join(tmp, "replay-mem-pprof.txt")
	if err := writeRequests(memFile, http.MethodPost, "/api/orders/validate", memShoppers, shopper.replayBody); err != nil {
		return err
	}
	for _, p := range []struct {
		name string
		s    srv
		file string
	}{
		{"ServerCartPG", pg, files["cart-pg"]},
		{"ServerReplayPG", pg, files["replay-pg"]},
		{"ServerReplayMem", mem, memFile},
	} {
		if *only != "" && !strings.Contains(p.name, *only) {
			continue
		}
		if _, err := wrk.run(p.s.url, p.file, conns, *warmup); err != nil {
			return err
		}
		var prof []byte
		var perr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", p.s.pprof, *profSeconds))
			if err != nil {
				perr = err
				return
			}
			defer resp.Body.Close()
			prof, perr = io.ReadAll(resp.Body)
		}()
		res, err := wrk.run(p.s.url, p.file, conns, time.Duration(*profSeconds+2)*time.Second)
		<-done
		if err != nil {
			return err
		}
		if perr != nil {
			return fmt.Errorf("profile %s: %w", p.name, perr)
		}
		file := filepath.Join(*profDir, fmt.Sprintf("%s-c%d.pprof", p.name, conns))
		if err := os.WriteFile(file, prof, 0o644); err != nil {
			return err
		}
		top, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=40", *profServer, file).CombinedOutput()
		if err != nil {
			return fmt.Errorf("go tool pprof: %v\n%s", err, top)
		}
		topFile := strings.TrimSuffix(file, ".pprof") + ".top.txt"
		if err := os.WriteFile(topFile, top, 0o644); err != nil {
			return err
		}
		logf("profile %s at c=%d (%.0f req/s while profiled): %s, top: %s", p.name, conns, res.RPS, file, topFile)
	}
	return nil
}
