#!/usr/bin/env bash
# Prepares a Pošta instance for the shared side-by-side harness
# (../shared/bench/smtp/bench-target.sh): a config listening for SMTP on 127.0.0.1:$PORT
# (every other listener off) and a data dir with the domain bench.test and the accounts
# user1..user$USERS@bench.test. Then prints the bench-target.sh command line to run.
#
#   bench/setup-target.sh                 # /var/tmp/posta-bench, port 2600
#   DIR=/var/tmp/x PORT=2700 WORKERS=2 bench/setup-target.sh
#
# Env: DIR (default /var/tmp/posta-bench; emptied first), PORT (2600), USERS (5),
#      WORKERS (0 = one per core), BUILD (1: run `npm run build` first).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${DIR:-/var/tmp/posta-bench}"
PORT="${PORT:-2600}"
USERS="${USERS:-5}"
WORKERS="${WORKERS:-0}"
BUILD="${BUILD:-1}"
CLI=(node "$REPO/dist/cli/main.js")

case "$DIR" in /|"") echo "refusing DIR=$DIR" >&2; exit 1 ;; esac
if [[ "$BUILD" == 1 ]]; then (cd "$REPO" && npm run --silent build); fi
[[ -f "$REPO/dist/cli/main.js" ]] || { echo "no $REPO/dist/cli/main.js: run npm run build" >&2; exit 1; }

rm -rf "$DIR"
mkdir -p "$DIR"
cat > "$DIR/posta.toml" <<EOF
# Pošta for the SMTP benchmark: MX only, on loopback.
hostname = "mx.bench.local"
primary_domain = "bench.test"
data_dir = "$DIR/data"
workers = $WORKERS

[listen]
smtp = "127.0.0.1:$PORT"
submission = ""
submissions = ""
imap = ""
imaps = ""
pop3 = ""
pop3s = ""
http = ""

[limits]
# All load comes from 127.0.0.1. Postfix exempts \$mynetworks from its per-client limits
# by default; here 50 sessions with a new connection per message sit right at the default
# per-IP limit of 50, where a reconnect can race the server's close of the previous one.
connections_per_ip = 10000

[log]
level = "warn"
EOF

"${CLI[@]}" config check --config "$DIR/posta.toml" >/dev/null
"${CLI[@]}" domain add bench.test --config "$DIR/posta.toml" >/dev/null
for ((i = 1; i <= USERS; i++)); do
  "${CLI[@]}" user add "user$i@bench.test" --password "bench password $i" --config "$DIR/posta.toml" >/dev/null
done
echo "prepared $DIR: posta.toml (SMTP on 127.0.0.1:$PORT, workers=$WORKERS) and user1..user$USERS@bench.test" >&2

cat <<EOF
# run from ../shared/bench/smtp (as root, like bench-postfix.sh):
TARGET_PORT=$PORT LABEL=posta \\
  COUNT="cmd:sqlite3 $DIR/data/posta.db 'select count(*) from messages'" \\
  START_CMD="exec node $REPO/dist/cli/main.js serve --config $DIR/posta.toml" \\
  ./bench-target.sh
EOF
