// Command benchreport reads `go test -bench` output (several -count runs)
// and prints each figure as the ratio of its median to its floor's median.
// A benchmark named <Name>Floor<What> is the floor of <Name>; both must be
// measured in the same run. The first of the metrics brotli-bytes,
// wire-bytes and ns/op that a benchmark reports is its figure. Figures with
// a target ratio (targets) print it and whether this run met it.
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
var metrics = []string{"brotli-bytes", "wire-bytes", "ns/op"}

// targets are the largest ratios the project aims for (issue 12), by figure.
var targets = map[string]float64{
	"Bundle":    1.28, // bundle brotli / empty program brotli
	"PageWire":  1.10, // bytes on the wire of a first load / bundle brotli
	"PageReady": 1.20, // time to ready / the same loader running an empty program
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
