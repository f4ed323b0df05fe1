package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// wrkScript rotates each wrk thread over its share of the shoppers'
// requests (one line each in the file given after --: method, path,
// cookie, body, tab separated; then the number of threads): thread t of
// T takes the t-th T-th of the shoppers, so that no two requests of one
// shopper are ever in flight together. It counts the answers by status
// and prints one line of JSON when done: requests, duration, latency
// percentiles (microseconds), socket errors and the status counts of
// every thread.
const wrkScript = `
-- counts is global: done() reads each thread's with thread:get.
counts = {}
local reqs, n, i, threads, tcount = {}, 0, 0, {}, 0

function setup(thread)
  tcount = tcount + 1
  thread:set("tid", tcount)
  table.insert(threads, thread)
end

function init(args)
  local all = {}
  local f = assert(io.open(args[1]))
  for line in f:lines() do table.insert(all, line) end
  f:close()
  local per = math.floor(#all / tonumber(args[2]))
  for k = (tid - 1) * per + 1, tid * per do
    local m, p, c, b = all[k]:match("^(%S+)\t(%S+)\t([^\t]*)\t(.*)$")
    n = n + 1
    reqs[n] = wrk.format(m, p, {["Content-Type"] = "application/json", ["Cookie"] = c}, b)
  end
end

function request()
  i = i % n + 1
  return reqs[i]
end

function response(status, headers, body)
  local k = tostring(status)
  counts[k] = (counts[k] or 0) + 1
end

function done(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts") or {}) do all[k] = (all[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(all) do table.insert(parts, string.format('"%s":%d', k, v)) end
  local e = summary.errors
  io.write(string.format('SERVERBENCH {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":{%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.timeout, table.concat(parts, ",")))
end
`

// result is one load run: throughput, latency and what was answered.
type result struct {
	RPS        float64
	P50, P99   time.Duration
	Status     map[string]int // by HTTP status ("200", "409", ...)
	SockErrors int
	// CPUPerReq is the CPU time (user and system) the process under load
	// used per answered request, when known: unlike the throughput, it
	// hardly depends on what else the machine is running.
	CPUPerReq time.Duration
	// LoadCPUPerReq is the load tool's own CPU time per request.
	LoadCPUPerReq time.Duration
}

// unexpected counts the answers that are neither 2xx nor a 409 of the
// contract (payment_already_completed, request_in_progress), plus socket
// errors.
func (r result) unexpected() int {
	n := r.SockErrors
	for s, c := range r.Status {
		if !strings.HasPrefix(s, "2") && s != "409" {
			n += c
		}
	}
	return n
}

type wrkRunner struct {
	bin     string
	script  string
	threads int
}

func newWrk(dir string, threads int) (*wrkRunner, error) {
	bin, err := exec.LookPath("wrk")
	if err != nil {
		return nil, fmt.Errorf("wrk not found: apt-get install wrk (scripts/bench.sh installs it as root)")
	}
	script := filepath.Join(dir, "rotate.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
		return nil, err
	}
	return &wrkRunner{bin: bin, script: script, threads: threads}, nil
}

// run drives baseURL with the requests of reqFile at concurrency conns
// for d.
func (w *wrkRunner) run(baseURL, reqFile string, conns int, d time.Duration) (result, error) {
	threads := min(w.threads, conns)
	cmd := exec.Command(w.bin, "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", strconv.Itoa(int(d.Seconds()))+"s", "--timeout", "10s", "-s", w.script, baseURL, "--", reqFile, strconv.Itoa(threads))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("wrk %s: %v\n%s%s", baseURL, err, out.String(), errb.String())
	}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "SERVERBENCH ")
		if !ok {
			continue
		}
		var v struct {
			Requests                      int64
			DurationUS                    int64 `json:"duration_us"`
			P50US                         int64 `json:"p50_us"`
			P99US                         int64 `json:"p99_us"`
			Connect, Read, Write, Timeout int
			Status                        map[string]int
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			return result{}, fmt.Errorf("wrk printed %q: %v", line, err)
		}
		if v.DurationUS <= 0 {
			return result{}, fmt.Errorf("wrk ran for no time: %s", line)
		}
		var load time.Duration
		if ps := cmd.ProcessState; ps != nil && v.Requests > 0 {
			load = (ps.UserTime() + ps.SystemTime()) / time.Duration(v.Requests)
		}
		return result{
			RPS: float64(v.Requests) / (float64(v.DurationUS) / 1e6),
			P50: time.Duration(v.P50US) * time.Microsecond, P99: time.Duration(v.P99US) * time.Microsecond,
			Status: v.Status, SockErrors: v.Connect + v.Read + v.Write + v.Timeout, LoadCPUPerReq: load,
		}, nil
	}
	return result{}, fmt.Errorf("wrk printed no result:\n%s%s", out.String(), errb.String())
}

// runCPU is run, with the CPU time the process serving baseURL (one
// started here) used per request.
func (w *wrkRunner) runCPU(baseURL, reqFile string, conns int, d time.Duration) (result, error) {
	pid, ok := pids.Load(baseURL)
	var before time.Duration
	if ok {
		before = processCPU(pid.(int))
	}
	res, err := w.run(baseURL, reqFile, conns, d)
	if err == nil && ok {
		n := 0
		for _, c := range res.Status {
			n += c
		}
		if used := processCPU(pid.(int)) - before; n > 0 && used > 0 {
			res.CPUPerReq = used / time.Duration(n)
		}
	}
	return res, err
}

// processCPU is the user and system time of process pid so far, from
// /proc (0 where there is none).
func processCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command, which is in parentheses: state is the
	// 3rd field of stat, utime the 14th, stime the 15th.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond
}

// writeRequests writes one wrk request line per shopper.
func writeRequests(file, method, path string, shoppers []shopper, body func(shopper) []byte) error {
	var b bytes.Buffer
	for _, s := range shoppers {
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\n", method, path, s.Cookie, body(s))
	}
	return os.WriteFile(file, b.Bytes(), 0o644)
}
