package workertest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// CPU is the CPU time consumed so far by the workerd processes of the
// Worker (the runtime that runs its code; wrangler's own Node.js process is
// reported apart by NodeCPU). It sums the per-thread run time of
// /proc/PID/task/*/schedstat, in nanoseconds, so that sub-millisecond costs
// are measurable; Linux only.
func (w *Worker) CPU() (time.Duration, error) { return w.groupCPU("workerd") }

// NodeCPU is the CPU time of wrangler's Node.js processes.
func (w *Worker) NodeCPU() (time.Duration, error) { return w.groupCPU("node") }

func (w *Worker) groupCPU(comm string) (time.Duration, error) {
	pids, err := groupProcesses(w.pgid, comm)
	if err != nil {
		return 0, err
	}
	if len(pids) == 0 {
		return 0, fmt.Errorf("no %s process in wrangler's process group %d", comm, w.pgid)
	}
	var total time.Duration
	for _, pid := range pids {
		tasks, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "schedstat"))
		for _, f := range tasks {
			b, err := os.ReadFile(f)
			if err != nil {
				continue // the thread ended
			}
			fields := strings.Fields(string(b))
			if len(fields) == 0 {
				continue
			}
			ns, err := strconv.ParseInt(fields[0], 10, 64)
			if err == nil {
				total += time.Duration(ns)
			}
		}
	}
	return total, nil
}

// groupProcesses lists the processes of process group pgid named comm.
func groupProcesses(pgid int, comm string) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...
		s := string(b)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < open {
			continue
		}
		rest := strings.Fields(s[close+1:])
		if len(rest) < 3 {
			continue
		}
		pg, _ := strconv.Atoi(rest[2])
		if pg == pgid && s[open+1:close] == comm {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}
