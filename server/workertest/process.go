package workertest

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// superviseScript runs "$@" under a shell that leads a process group of
// its own and kills the whole group (the command, whatever it started —
// wrangler's workerd — and the shell) with SIGKILL when its standard input,
// a pipe from the test binary, reaches end of file: when the test stops it,
// and when the test binary dies, however it dies (a SIGKILL, a -timeout
// panic), which a Pdeathsig on wrangler alone does not cover: workerd
// outlives it. It does the same when the command exits by itself.
const superviseScript = `exec 3<&0 </dev/null
"$@" 3<&- &
child=$!
{ read -r _ <&3; kill -KILL 0; } &
exec 3<&-
wait "$child"
kill -KILL 0
`

// supervised is a command started by supervise.
type supervised struct {
	pipe   *os.File // the write end of the shell's standard input
	pgid   int
	exited chan struct{} // closed once the shell is gone

	once sync.Once
}

// supervise starts c (Path, Args, Env, Dir, Stdout, Stderr are used) under
// superviseScript.
func supervise(c *exec.Cmd) (*supervised, error) {
	r, w, err := os.Pipe() // close-on-exec: no other child inherits w
	if err != nil {
		return nil, err
	}
	sh := exec.Command("/bin/sh", append([]string{"-c", superviseScript, "sh", c.Path}, c.Args[1:]...)...)
	sh.Env, sh.Dir, sh.Stdout, sh.Stderr = c.Env, c.Dir, c.Stdout, c.Stderr
	sh.Stdin = r
	sh.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// The output pipes close when the group is dead; never wait longer.
	sh.WaitDelay = 2 * time.Second
	if err := sh.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("%s: %v", c.Path, err)
	}
	r.Close()
	s := &supervised{pipe: w, pgid: sh.Process.Pid, exited: make(chan struct{})}
	go func() { sh.Wait(); close(s.exited) }()
	return s, nil
}

// stop kills the process group and waits for the shell; it may be called
// more than once.
func (s *supervised) stop() {
	s.once.Do(func() {
		// On end of file the shell's watcher kills the group; while the
		// shell is there (so its pid is still this group's), do it at once.
		s.pipe.Close()
		select {
		case <-s.exited:
		default:
			syscall.Kill(-s.pgid, syscall.SIGKILL)
		}
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
		}
	})
}
