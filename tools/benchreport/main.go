// Command benchreport reads `go test -bench` output (several -count runs)
// and prints each figure as the ratio of its median to its floor's median.
// A benchmark named <Name>Floor<What> is the floor of <Name>; both must be
// measured in the same run. The first of the metrics brotli-bytes,
// wire-bytes, req/s and ns/op that a benchmark reports is its figure.
// Figures with a target ratio (targets) print it and whether this run met
// it.
//
// req/s is a throughput (tools/serverbench): its ratio is figure over
// floor too, but higher is better, and its target is a least ratio
// (throughputTargets, by the figure's name up to its first "/"). Such
// figures also print the medians of their p50-us and p99-us latencies
// beside their floor's, the sums of their errors (answers neither 2xx
// nor a contract 409) and 409s over the runs, and the medians of the
// CPU time per request of the process under load (cpu-us/req) when both
// report it.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var line = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// metrics in order of preference.
var metrics = []string{"brotli-bytes", "wire-bytes", "req/s", "ns/op"}

// targets are the largest ratios the project aims for (issue 12), by figure.
var targets = map[string]float64{
	"Bundle":    1.28, // bundle brotli / empty program brotli
	"PageWire":  1.10, // bytes on the wire of a first load / bundle brotli
	"PageReady": 1.20, // time to ready / the same loader running an empty program
}

// throughputTargets are the least throughput ratios the project aims for
// (issue 12), by figure name up to its first "/" (the concurrency).
var throughputTargets = map[string]float64{
	"ServerCartPG":    0.80, // PUT /api/cart / a minimal net/http + pgx handler, same SQL
	"ServerReplayPG":  0.80, // validate replay / pgbench, and / net/http + pgx, same SQL
	"ServerReplayMem": 0.80, // validate replay, memory store / a minimal net/http JSON handler
}

func main() {
	if err := report(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func report(r io.Reader, w io.Writer) error {
	samples := map[string]map[string][]float64{} // name → metric → values
	var order []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := line.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		name, fields := m[1], strings.Fields(m[2])
		if samples[name] == nil {
			samples[name] = map[string][]float64{}
			order = append(order, name)
		}
		for i := 0; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err == nil {
				samples[name][fields[i+1]] = append(samples[name][fields[i+1]], v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	pairs := 0
	fmt.Fprintf(w, "%-34s %-14s %14s %14s %8s %5s  %s\n", "figure", "metric", "median", "floor median", "ratio", "runs", "target")
	for _, name := range order {
		base, floorName, ok := strings.Cut(name, "Floor")
		if !ok || floorName == "" {
			continue
		}
		fig, ok := samples[base]
		if !ok {
			return fmt.Errorf("floor %s has no figure %s in this run", name, base)
		}
		floor := samples[name]
		for _, metric := range metrics {
			if len(fig[metric]) == 0 || len(floor[metric]) == 0 {
				continue
			}
			a, b := median(fig[metric]), median(floor[metric])
			if metric == "req/s" {
				printThroughput(w, base, floorName, fig, floor)
				pairs++
				break
			}
			target := ""
			if t, ok := targets[base]; ok {
				verdict := "met"
				if a/b > t {
					verdict = "NOT met"
				}
				target = fmt.Sprintf("<= %.2fx %s", t, verdict)
			}
			fmt.Fprintf(w, "%-34s %-14s %14.0f %14.0f %7.2fx %5d  %s\n", base+" / "+floorName, metric, a, b, a/b, min(len(fig[metric]), len(floor[metric])), target)
			pairs++
			break
		}
	}
	if pairs == 0 {
		return fmt.Errorf("no figure/floor pairs in the input")
	}
	return nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// printThroughput prints a req/s figure against its floor, with the
// latencies of both and the figure's errors and 409s.
func printThroughput(w io.Writer, base, floorName string, fig, floor map[string][]float64) {
	a, b := median(fig["req/s"]), median(floor["req/s"])
	target := ""
	name, _, _ := strings.Cut(base, "/")
	if t, ok := throughputTargets[name]; ok {
		verdict := "met"
		if a/b < t {
			verdict = "NOT met"
		}
		target = fmt.Sprintf(">= %.2fx %s", t, verdict)
	}
	ms := func(m map[string][]float64, metric string) string {
		if len(m[metric]) == 0 {
			return "-"
		}
		return strconv.FormatFloat(median(m[metric])/1000, 'f', 2, 64)
	}
	sum := func(m map[string][]float64, metric string) float64 {
		t := 0.0
		for _, v := range m[metric] {
			t += v
		}
		return t
	}
	fmt.Fprintf(w, "%-34s %-14s %14.0f %14.0f %7.2fx %5d  %s\n", base+" / "+floorName, "req/s", a, b, a/b,
		min(len(fig["req/s"]), len(floor["req/s"])), target)
	cpu := ""
	if len(fig["cpu-us/req"]) > 0 && len(floor["cpu-us/req"]) > 0 {
		a, b := median(fig["cpu-us/req"]), median(floor["cpu-us/req"])
		cpu = fmt.Sprintf("; CPU us/req %.1f / %.1f (%.2fx)", a, b, a/b)
	}
	fmt.Fprintf(w, "%-34s %-14s %14s %14s   p99 ms %s / %s; errors %.0f, 409s %.0f (floor: errors %.0f)%s\n", "", "p50 ms",
		ms(fig, "p50-us"), ms(floor, "p50-us"), ms(fig, "p99-us"), ms(floor, "p99-us"),
		sum(fig, "errors"), sum(fig, "409s"), sum(floor, "errors"), cpu)
}
