#!/usr/bin/env bash
# The Cloudflare Worker's part of make bench:
#   - the bundle, raw and gzip, as `wrangler deploy --dry-run` reports it
#     (scripts/worker.sh), against Cloudflare's limits;
#   - CPU time per request under workerd (wrangler dev --local) for the Go
#     Worker against a plain-JS Worker doing the equivalent trivial work
#     (server/workertest TestWorkerCPU; median of WORKER_BENCH_ROUNDS=5
#     rounds of WORKER_BENCH_REQUESTS=20 requests), as ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
echo "== Cloudflare Worker"
scripts/worker.sh
cat <<'LIMITS'
  Cloudflare's limits (https://developers.cloudflare.com/workers/platform/limits/):
  Worker size after compression 3 MB (Free) / 10 MB (Paid); startup 1 s;
  memory 128 MB per isolate; CPU time 10 ms per request (Free) / 30 s by
  default, up to 5 min (Paid). The Go Worker's gzip size and CPU time per
  request need the Paid plan.
LIMITS
ONECHARGE_WORKER_BENCH=1 scripts/with-postgres.sh $GO test -count=1 -run '^TestWorkerCPU$' -v ./server/workertest/ |
	sed -n '/^Worker CPU per request/,/wrangler.s Node.js/p'
