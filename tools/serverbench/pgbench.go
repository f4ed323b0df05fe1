package main

// The database floor of the validate replay: pgbench running the very
// statements of the path (postgres.Statements) for the shoppers' keys:
// Lookup's batch as a pipeline (ProductsByID, KeyByID), then ReplayKey
// with the values the server would pass, -M prepared, at the same
// concurrency against the same PostgreSQL. Client c replays shopper c
// (c < shoppers), so that no two clients contend for a row; the HTTP
// load rotates each connection over all the shoppers, which contends
// as rarely. The parameters are variables (bound, as pgx binds them),
// read once per client from a VALUES list by \gset.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/onecharge/onecharge/server/postgres"
	"github.com/onecharge/onecharge/shared/checkout"
)

type pgbenchRunner struct {
	bin, dbURL, dir, script string
	threads                 int
}

func newPgbench(ctx context.Context, dir, dbURL string, shoppers []shopper, threads int) (*pgbenchRunner, error) {
	bin, err := exec.LookPath("pgbench")
	if err != nil {
		return nil, fmt.Errorf("pgbench not found: install the Debian package postgresql-client (or postgresql)")
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	sql := postgres.Statements()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	var rows []string
	for i, s := range shoppers {
		// The row as the server reads it (scanKey), for ReplayKey's
		// parameters.
		var user, method, piID, piStatus, piCurrency, currency string
		var items json.RawMessage
		var amount, piAmount int64
		if err := conn.QueryRow(ctx, `select user_id::text, payment_method, items, amount, currency,
 payment_intent_id, pi_status, pi_amount, pi_currency from idempotency_keys where key = $1`, s.Key).
			Scan(&user, &method, &items, &amount, &currency, &piID, &piStatus, &piAmount, &piCurrency); err != nil {
			return nil, fmt.Errorf("pgbench: key of shopper %d: %w", i, err)
		}
		// The store re-encodes the items it scanned (jsonArray).
		var lines []checkout.Line
		if err := json.Unmarshal(items, &lines); err != nil {
			return nil, err
		}
		snapshot, _ := json.Marshal(lines)
		cart, _ := json.Marshal(s.Items)
		ids := make([]string, len(s.Items))
		for j, it := range s.Items {
			ids[j] = it.ProductID
		}
		vals := []string{strconv.Itoa(i), "{" + strings.Join(ids, ",") + "}", s.Key, user, method, piID, piStatus,
			strconv.FormatInt(piAmount, 10), piCurrency, strconv.FormatInt(amount, 10), currency, string(snapshot), now, string(cart)}
		for j, v := range vals {
			vals[j] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
		}
		vals[0] = strconv.Itoa(i)
		rows = append(rows, "("+strings.Join(vals, ",")+")")
		// Check once that the statement matches the row, so that the
		// floor does the cart write too, as the path does.
		var matched bool
		if err := conn.QueryRow(ctx, sql.ReplayKey, s.Key, user, method, piID, piStatus, piAmount, piCurrency,
			amount, currency, string(snapshot), now, string(cart)).Scan(&matched); err != nil || !matched {
			return nil, fmt.Errorf("pgbench: shopper %d: ReplayKey matched=%v err=%v (items %s vs %s)", i, matched, err, snapshot, items)
		}
	}
	// Client c replays shopper c: the first transaction of each client
	// reads that shopper's parameters into its variables (\gset), once.
	script := strings.Join([]string{
		`\if :inited = 0`,
		`select ids, key, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11, p12 from (values ` + strings.Join(rows, ",") +
			`) v(n, ids, key, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11, p12) where n = :client_id % ` + strconv.Itoa(len(shoppers)),
		`\gset k_`,
		`\set inited 1`,
		`\endif`,
		`\startpipeline`,
		pgbenchSQL(sql.ProductsByID, "k_ids"),
		pgbenchSQL(sql.KeyByID, "k_key"),
		`\endpipeline`,
		pgbenchSQL(sql.ReplayKey, "k_key", "k_p2", "k_p3", "k_p4", "k_p5", "k_p6", "k_p7", "k_p8", "k_p9", "k_p10", "k_p11", "k_p12"),
	}, "\n") + "\n"
	file := filepath.Join(dir, "replay.sql")
	if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
		return nil, err
	}
	return &pgbenchRunner{bin: bin, dbURL: dbURL, dir: dir, script: file, threads: threads}, nil
}

// pgbenchSQL turns $N placeholders into pgbench variables, one line.
func pgbenchSQL(sql string, vars ...string) string {
	for i := len(vars); i >= 1; i-- { // $12 before $1
		sql = strings.ReplaceAll(sql, "$"+strconv.Itoa(i), ":"+vars[i-1])
	}
	return strings.Join(strings.Fields(sql), " ") + ";"
}

var tpsRE = regexp.MustCompile(`tps = ([0-9.]+)`)

func (p *pgbenchRunner) run(conns int, d time.Duration) (result, error) {
	logDir, err := os.MkdirTemp(p.dir, "pgbench-log-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(logDir)
	args := []string{"-n", "-M", "prepared", "-c", strconv.Itoa(conns), "-j", strconv.Itoa(min(p.threads, conns)),
		"-T", strconv.Itoa(int(d.Seconds())), "-l", "--log-prefix", filepath.Join(logDir, "tx"),
		"-D", "inited=0", "-f", p.script, p.dbURL}
	cmd := exec.Command(p.bin, args...)
	cmd.Dir = logDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("pgbench: %v\n%s", err, out)
	}
	m := tpsRE.FindSubmatch(out)
	if m == nil {
		return result{}, fmt.Errorf("pgbench printed no tps:\n%s", out)
	}
	tps, _ := strconv.ParseFloat(string(m[1]), 64)
	lat, err := pgbenchLatencies(logDir)
	if err != nil {
		return result{}, err
	}
	failed := 0
	if m := regexp.MustCompile(`number of failed transactions: (\d+)`).FindSubmatch(out); m != nil {
		failed, _ = strconv.Atoi(string(m[1]))
	}
	return result{RPS: tps, P50: percentile(lat, 50), P99: percentile(lat, 99),
		Status: map[string]int{"200": len(lat)}, SockErrors: failed}, nil
}

// pgbenchLatencies reads the per-transaction logs (-l): the third field
// is the latency in microseconds.
func pgbenchLatencies(dir string) ([]time.Duration, error) {
	files, err := filepath.Glob(filepath.Join(dir, "tx*"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("pgbench wrote no transaction log in %s", dir)
	}
	var out []time.Duration
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 3 {
				continue
			}
			us, err := strconv.ParseInt(fields[2], 10, 64)
			if err == nil {
				out = append(out, time.Duration(us)*time.Microsecond)
			}
		}
	}
	return out, nil
}

func percentile(v []time.Duration, p float64) time.Duration {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}
