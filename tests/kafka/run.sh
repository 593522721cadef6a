#!/usr/bin/env bash
# The README's Kafka pipeline, end to end: the collector follows real files
# with --max-line-bytes 900K and
# `-o '|kcat -P -E -X message.timeout.ms=0 -b HOST:PORT -t TOPIC'` into a
# Kafka-protocol broker (tansu, in memory, on a free 127.0.0.1 port), and
# what `kcat -C` reads back is compared, line by line and byte for byte,
# with what was written. Each phase ends with a SIGTERM, when kcat sends the
# last lines it holds:
#
#   1. the collector starts 2 s before the broker (kcat holds the lines
#      meanwhile): a backlog, edge-case lines (CR, tab, UTF-8, invalid
#      UTF-8, 100 KB, one of 2.5 pieces, an empty line) and a paced writer;
#      every line once, each file in order;
#   2. SIGTERM while a writer appends and rotates its file; more lines while
#      the collector is down; a fresh start: still every line once, in order;
#   3. kill -9 while a writer appends and the collector works through a
#      27 MB backlog; more lines while it is down; a fresh start. Command
#      output is at-least-once across a crash: no line may be lost, no part
#      of a line may arrive, and the only repeats allowed are the
#      unconfirmed lines of the last cycle: per file one run of lines
#      written before the kill, each repeated once.
#
#   tests/kafka/run.sh [BINARY]
#
# BINARY: the collector (default target/debug/log-collector, else
# target/release/log-collector); loggen is taken from beside it.
# TANSU: the tansu binary (default `tansu` on PATH, else
# ${CARGO_HOME:-~/.cargo}/bin/tansu, else /tmp/tansu/root/bin/tansu), built
# with its in-memory storage: cargo install tansu --locked --features
# dynostore. When this kcat cannot read tansu's ApiVersions response
# (librdkafka 2.0.2, Debian 12), tansu is reached through
# apiversions_shim.py (python3), which drops the tagged fields from it.
# KAFKA_BROKER=HOST:PORT: use that broker instead (then phase 1 starts with
# the broker up). KAFKA_TOPIC: the topic (default `logs` on tansu, which is
# created with one partition; on KAFKA_BROKER a new
# `log-collector-test-TIME-PID`, made by the broker's auto-creation). It must
# be empty; the order is checked only when it has one partition.
# LC_KAFKA_KCAT_OPTS: kcat's options instead of `-E -X message.timeout.ms=0`
# (empty: the bare `kcat -P`, which loses lines while the broker is down).
# LC_KAFKA_MAX_LINE: --max-line-bytes (default 900K).
# LC_KAFKA_DEADLINE: seconds to wait for lines to arrive (default 60).
# LC_KAFKA_KEEP=1 keeps the temp dir (it is kept anyway when a check fails).
# Needs kcat (Debian: apt-get install kcat). Exits 0 when every check
# passed, 1 when one failed, 2 when something it needs is missing.
set -euo pipefail
started_at=$(date +%s.%N)

binary=
case ${1:-} in
  -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
  -*) echo "unknown option $1; see $0 --help" >&2; exit 2 ;;
  ?*) binary=$(realpath "$1") ;;
esac
cd "$(dirname "$0")/../.."

elapsed() { echo "$(date +%s.%N) $started_at" | awk '{printf "%.1f", $1 - $2}'; }
need() { echo "FAIL kafka: $*" >&2; exit 2; }

# ---- what it needs -----------------------------------------------------------

if [ -z "$binary" ]; then
  for b in target/debug/log-collector target/release/log-collector; do
    if [ -x "$b" ]; then binary=$PWD/$b; break; fi
  done
  [ -n "$binary" ] || need "no collector in target/debug or target/release; run \`make build\` or name one"
fi
[ -x "$binary" ] || need "$binary: not an executable; run \`make build\` or name a built collector"
loggen=$(dirname "$binary")/loggen
[ -x "$loggen" ] || need "no loggen beside $binary; \`cargo build --locked\` builds both"
command -v kcat >/dev/null || need "no kcat on PATH: apt-get install kcat (Debian, Ubuntu), or build it from github.com/edenhill/kcat"

broker=${KAFKA_BROKER:-}
tansu=
if [ -z "$broker" ]; then
  if [ -n "${TANSU:-}" ]; then
    [ -x "$TANSU" ] || need "TANSU=$TANSU is not an executable; name the tansu binary"
    tansu=$TANSU
  fi
  for t in "$(command -v tansu || true)" "${CARGO_HOME:-$HOME/.cargo}/bin/tansu" \
    /tmp/tansu/root/bin/tansu; do
    if [ -z "$tansu" ] && [ -n "$t" ] && [ -x "$t" ]; then tansu=$t; fi
  done
  if [ -z "$tansu" ]; then
    need "no tansu broker (TANSU, PATH, ~/.cargo/bin, /tmp/tansu/root/bin): \`cargo install tansu --locked --features dynostore\` builds it (about 17 min on 2 cores), or give a broker with KAFKA_BROKER=host:port"
  fi
  topic=${KAFKA_TOPIC:-logs}
else
  topic=${KAFKA_TOPIC:-log-collector-test-$(date +%s)-$$}
fi
deadline_s=${LC_KAFKA_DEADLINE:-60}

# ---- processes and clean-up ----------------------------------------------------

tmp=$(mktemp -d /tmp/lc-kafka.XXXXXX)
mkdir "$tmp/logs"
failed=()
# Every process started here, and the process groups of the output commands
# (kcat outlives a collector killed with -9), ended by number on exit.
pids=()
groups=()
broker_pid=
shim_pid=
collector_pid=

teardown() {
  set +e
  local p
  # The collector first, given the time to end its command's group.
  if [ -n "$collector_pid" ] && kill -TERM "$collector_pid" 2>/dev/null; then
    wait_for 3 '! kill -0 "$collector_pid" 2>/dev/null'
  fi
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${groups[@]}"; do kill -TERM -- "-$p" 2>/dev/null; done
  sleep 0.2
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  for p in "${groups[@]}"; do kill -KILL -- "-$p" 2>/dev/null; done
  wait 2>/dev/null
  if [ "${#failed[@]}" -gt 0 ] || [ "${LC_KAFKA_KEEP:-}" = 1 ]; then
    echo "temp dir kept: $tmp (collector.log, broker.log, consumed, logs/)"
  else
    rm -rf "$tmp"
  fi
}
trap teardown EXIT
trap 'exit 130' INT TERM

pass() { echo "PASS $*"; }
fail() {
  echo "FAIL $*"
  failed+=("$1")
}
# A failure after which the rest cannot run: the summary, the logs' ends.
abort() {
  fail "$@"
  echo "--- collector.log (end)"; tail -n 15 "$tmp/collector.log" 2>/dev/null
  if [ -n "$broker_pid" ]; then echo "--- broker.log (end)"; tail -n 15 "$tmp/broker.log"; fi
  echo "kafka: FAIL ($*) after $(elapsed) s"
  exit 1
}

# Waits up to $1 seconds for the condition $2 (a shell expression).
wait_for() {
  local until=$((SECONDS + $1))
  until eval "$2"; do
    [ "$SECONDS" -lt "$until" ] || return 1
    sleep 0.2
  done
}

# ---- the broker ------------------------------------------------------------------

port_free() { ! (exec 3<> "/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 40000))
    if port_free "$p"; then echo "$p"; return 0; fi
  done
  return 1
}
metadata() { timeout 10 kcat -L -b "$broker" -t "$topic" -m 3 2>&1; }

# Starts tansu listening on port $1 and advertising port $2, in memory;
# returns once the port takes connections.
start_tansu() {
  local listen=$1
  # In the temp dir: tansu reads a .env file from where it starts.
  (cd "$tmp" && exec "$tansu" broker --listener-url "tcp://127.0.0.1:$listen" \
    --advertised-listener-url "tcp://127.0.0.1:$2" --storage-engine memory://tansu/) \
    >> "$tmp/broker.log" 2>&1 &
  broker_pid=$!
  pids+=("$broker_pid")
  wait_for 30 '! port_free "$listen" || ! kill -0 "$broker_pid" 2>/dev/null' ||
    abort "broker: tansu did not listen on 127.0.0.1:$listen within 30 s"
  if ! kill -0 "$broker_pid" 2>/dev/null; then
    if grep -q 'FeatureNotEnabled' "$tmp/broker.log"; then
      need "$tansu has no in-memory storage (built without the dynostore feature): cargo install tansu --locked --features dynostore"
    fi
    abort "broker: tansu exited: $(tail -n 2 "$tmp/broker.log")"
  fi
}

stop_tansu() {
  kill -TERM "$broker_pid"
  wait "$broker_pid" 2>/dev/null || true
  broker_pid=
}

# The port kcat is given is picked now, so that the collector can start
# before the broker. Some librdkafka builds cannot read tansu's ApiVersions
# response (see apiversions_shim.py); a first broker tells whether this kcat
# can, and if not, the broker listens on a port of its own behind the shim.
shim=no
if [ -n "$tansu" ]; then
  port=$(free_port) || abort "setup: no free port on 127.0.0.1"
  broker=127.0.0.1:$port
  tansu_port=$port
  start_tansu "$port" "$port"
  probe=$(timeout 10 kcat -L -b "$broker" -m 5 2>&1 || true)
  if ! grep -q '^ *1 brokers:' <<< "$probe"; then
    grep -q 'Read underflow' <<< "$probe" ||
      abort "broker: kcat -L gets no metadata from tansu: $(tail -n 2 <<< "$probe")"
    command -v python3 >/dev/null ||
      need "this kcat's librdkafka cannot read tansu's ApiVersions response, and the shim for it needs python3"
    shim=yes
    tansu_port=$(free_port) || abort "setup: no second free port on 127.0.0.1"
  fi
  stop_tansu
fi

start_broker() {
  start_tansu "$tansu_port" "$port"
  if [ "$shim" = yes ]; then
    python3 tests/kafka/apiversions_shim.py "$port" 127.0.0.1 "$tansu_port" >> "$tmp/shim.log" 2>&1 &
    shim_pid=$!
    pids+=("$shim_pid")
  fi
  wait_for 30 'metadata | grep -q "^ *1 brokers:"' ||
    abort "broker: no metadata from $broker within 30 s: $(metadata | tail -n 2)"
  "$tansu" topic create "$topic" --partitions 1 --broker "tcp://127.0.0.1:$tansu_port" >> "$tmp/broker.log" 2>&1 ||
    abort "broker: \`tansu topic create $topic\` failed: $(tail -n 3 "$tmp/broker.log")"
  wait_for 10 'metadata | grep -q "topic \"$topic\" with 1 partitions"' ||
    abort "broker: topic $topic not listed with 1 partition: $(metadata | tail -n 3)"
}

# ---- the collector -------------------------------------------------------------

# As the README has it: -E keeps kcat running while no broker answers (it
# exits by default, and the lines it had read are lost with it);
# message.timeout.ms=0 keeps it from dropping what it holds after 5 minutes;
# pieces of 900 KiB stay under librdkafka's message.max.bytes (1,000,000),
# beyond which kcat exits.
command="|kcat -P ${LC_KAFKA_KCAT_OPTS--E -X message.timeout.ms=0} -b $broker -t $topic"
max_line=${LC_KAFKA_MAX_LINE:-900K}
case $max_line in
  *K) max_bytes=$((${max_line%K} * 1024)) ;;
  *M) max_bytes=$((${max_line%M} * 1048576)) ;;
  *) max_bytes=$max_line ;;
esac
starts=0
start_collector() {
  starts=$((starts + 1))
  echo "=== start $starts" >> "$tmp/collector.log"
  # Its stdout (kcat's too) away from ours: a kcat left behind would hold it.
  "$binary" -s "$tmp/state" --max-line-bytes "$max_line" -o "$command" "$tmp/logs/*.log" \
    > "$tmp/collector.out" 2>> "$tmp/collector.log" &
  collector_pid=$!
  pids+=("$collector_pid")
  # Its output command (sh -c kcat) leads a process group of its own.
  wait_for 10 'group=$(ps -o pid= --ppid "$collector_pid" | head -n 1 | tr -d " "); [ -n "$group" ]' ||
    abort "start $starts: the collector started no output command"
  groups+=("$group")
}

group_alive() { kill -0 -- "-$1" 2>/dev/null; }

# SIGTERM: the collector must exit 0 (within a second by contract; 10 s here
# only to catch a hang, no timing is asserted).
stop_collector() {
  local rc=0
  kill -TERM "$collector_pid"
  wait_for 10 '! kill -0 "$collector_pid" 2>/dev/null' ||
    abort "$1: the collector did not exit within 10 s of SIGTERM"
  wait "$collector_pid" || rc=$?
  [ "$rc" = 0 ] || abort "$1: the collector exited with $rc after SIGTERM, not 0"
}

# ---- writing ---------------------------------------------------------------------

seed=0
# Appends N lines to FILE at once (unique: loggen's seq and microsecond time).
burst() {
  seed=$((seed + 1))
  "$loggen" --rate 0 --lines "$2" --seq --stamp --seed "$seed" "$tmp/logs/$1"
}
# Starts a writer appending N lines to FILE at RATE a second, with loggen's
# further options; its pid in $writer.
paced() {
  seed=$((seed + 1))
  "$loggen" --rate "$3" --lines "$2" --seq --stamp --seed "$seed" "${@:4}" "$tmp/logs/$1" &
  writer=$!
  pids+=("$writer")
}
# Lines that test the bytes: a tab and a CR, an empty line (once only: lines
# must be unique), UTF-8 and invalid UTF-8, one of 100 KB; huge-FILE gets a
# line of 2.5 pieces of --max-line-bytes.
edge_lines() {
  if [ "$1" = 1 ]; then
    { printf 'huge: '; head -c $((max_bytes * 5 / 2)) /dev/zero | tr '\0' 'h'; printf '\n'; } \
      >> "$tmp/logs/huge-$2"
  fi
  {
    printf 'edge %s: a tab\there, a carriage return before the newline\r\n' "$1"
    if [ "$1" = 1 ]; then printf '\n'; fi
    printf 'edge %s: UTF-8 \xc3\xbc \xe2\x82\xac \xf0\x9d\x84\x9e, invalid \xff\xfe\xc3 end\n' "$1"
    printf 'edge %s: long ' "$1"
    head -c 100000 /dev/zero | tr '\0' 'x'
    printf '\n'
  } >> "$tmp/logs/$2"
}

# ---- reading back and comparing ---------------------------------------------------

consume() {
  timeout 30 kcat -C -b "$broker" -t "$topic" -o beginning -e -q -f '%s\n' > "$tmp/consumed" 2> "$tmp/consume.err" ||
    { echo "kcat -C failed: $(tail -n 3 "$tmp/consume.err")" >&2; return 1; }
}

# Compares what was consumed with every file in logs/ (rotated ones
# included). Each line written is unique, so it names its file and index.
# Empty lines are not expected: kcat -P sends no message for one. A line
# longer than --max-line-bytes is expected as its pieces.
# Prints `file NAME lines delivered missing repeated first last over2
# misorder`, one per file, then `all lines delivered missing repeated
# foreign misorder duplicate_inputs empty`; `first last` are the lowest and
# highest line number repeated (0 0: none), `over2` how many came three
# times or more, `misorder` the lines whose first copy came after a later
# line's.
compare() {
  LC_ALL=C awk -v consumed="$tmp/consumed" -v max="$max_bytes" '
    FNR == 1 && FILENAME != consumed { nf++; name[nf] = FILENAME; sub(".*/", "", name[nf]) }
    FILENAME != consumed {
      if ($0 == "") { empty++; next }
      for (at = 1; at <= length($0); at += max) {
        piece = substr($0, at, max)
        if (piece in owner) dupinput++
        owner[piece] = nf; idx[piece] = ++total[nf]
      }
      next
    }
    {
      if (!($0 in owner)) { foreign++; next }
      f = owner[$0]; i = idx[$0]; c = ++seen[$0]
      if (c == 1) {
        got[f]++
        if (i < last[f]) misorder[f]++; else last[f] = i
      } else if (c == 2) {
        rep[f]++
        if (!lo[f] || i < lo[f]) lo[f] = i
        if (i > hi[f]) hi[f] = i
      } else over2[f]++
    }
    END {
      for (f = 1; f <= nf; f++) {
        miss = total[f] - got[f]
        printf "file %s %d %d %d %d %d %d %d %d\n", name[f], total[f], got[f], miss, rep[f], lo[f], hi[f], over2[f], misorder[f]
        T += total[f]; G += got[f]; M += miss; R += rep[f]; O += misorder[f] + over2[f]
      }
      printf "all %d %d %d %d %d %d %d %d\n", T, G, M, R, foreign, O, dupinput, empty
    }' $(ls "$tmp"/logs/* | LC_ALL=C sort) "$tmp/consumed" > "$tmp/compare"
  read -r _ all_lines all_delivered all_missing all_repeated all_foreign all_misorder all_dupinput all_empty \
    < <(grep '^all ' "$tmp/compare")
}

# Waits, once the writers are done, until the topic stops growing with at
# most a few lines missing: the last lines kcat holds. It reads its input in
# blocks of about 1 KiB and keeps an incomplete block until more comes or
# its input closes, so a quiet file's last lines reach the topic with the
# next ones, or when the collector stops. Sets `held` to the lines missing.
settle() {
  local until=$((SECONDS + deadline_s)) before=-1 now
  while :; do
    consume || true
    now=$(wc -l < "$tmp/consumed")
    if [ "$now" = "$before" ]; then
      compare
      [ "$all_missing" -gt 64 ] || break
    fi
    if [ "$SECONDS" -ge "$until" ]; then
      compare
      fail "$1: $all_missing of $all_lines lines not in the topic after ${deadline_s} s"
      grep '^file ' "$tmp/compare" | awk '$5 > 0 { print "    " $2 ": " $5 " of " $3 " missing" }'
      abort "$1: lines lost or stuck"
    fi
    before=$now
    sleep 1
  done
  held=$all_missing
}

# Stops the collector (kcat gets EOF and sends what it holds) and reads the
# whole topic back.
stop_and_read() {
  stop_collector "$1"
  consume || abort "$1: cannot read topic $topic"
  compare
  echo "    $1: kcat held $held line(s) until its input closed"
}

# Every line written exactly once, each file in order.
check_exactly_once() {
  local label=$1 why=$2 problems=()
  [ "$all_missing" = 0 ] || problems+=("$all_missing missing")
  [ "$all_repeated" = 0 ] || problems+=("$all_repeated repeated")
  [ "$all_foreign" = 0 ] || problems+=("$all_foreign not written by the test")
  [ "$all_dupinput" = 0 ] || problems+=("$all_dupinput input lines not unique (a test bug)")
  if [ "$ordered" = yes ] && [ "$all_misorder" != 0 ]; then problems+=("$all_misorder out of order"); fi
  if [ "${#problems[@]}" = 0 ]; then
    pass "$label: $all_lines lines written, $(wc -l < "$tmp/consumed") consumed, each once${order_note} ($why)"
  else
    fail "$label: $all_lines lines written, $(wc -l < "$tmp/consumed") consumed: $(IFS=,; echo "${problems[*]}")"
    grep '^file ' "$tmp/compare" | sed 's/^/    /'
  fi
}

# ---- the run ------------------------------------------------------------------------

echo "kafka: collector $binary, broker ${tansu:+tansu }$broker${tansu:+ (shim: $shim)}, topic $topic, temp dir $tmp"

# Phase 1: the collector is up before the broker.
burst a.log 3000
edge_lines 1 b.log
start_collector
paced c.log 1500 500
if [ -n "$tansu" ]; then
  sleep 2
  start_broker
else
  metadata | grep -q "^ *[0-9]* brokers:" || abort "broker: no metadata from $broker: $(metadata | tail -n 3)"
fi
# Lines already there would spoil the count (a topic used before). On
# KAFKA_BROKER the topic may not be there yet (auto-creation).
if consume; then
  compare
  [ "$all_foreign" = 0 ] || abort "setup: topic $topic already holds $all_foreign lines; name an empty one with KAFKA_TOPIC"
elif [ -n "$tansu" ]; then
  abort "broker: cannot read topic $topic"
fi
wait "$writer"
settle "phase 1"
partitions=$(metadata | sed -n "s/.*topic \"$topic\" with \([0-9]*\) partitions.*/\1/p")
if [ "$partitions" = 1 ]; then ordered=yes order_note=", each file in order"
else ordered=no order_note=" (order not checked: ${partitions:-?} partitions)"; fi
stop_and_read "phase 1"
check_exactly_once "phase 1" "${tansu:+the collector started 2 s before the broker, }SIGTERM"

# Phase 2: SIGTERM while a writer appends and rotates its file, lines
# appended while the collector is down, a fresh start.
start_collector
paced r.log 3000 300 --rotate-every 700 --keep 20
sleep 3
stop_collector "phase 2"
burst a.log 2000
edge_lines 2 b.log
sleep 1
start_collector
wait "$writer"
settle "phase 2"
stop_and_read "phase 2"
check_exactly_once "phase 2" "SIGTERM while r.log was written and rotated $(ls "$tmp/logs" | grep -c '^r\.log\.') times, lines written while stopped"

# Bytes read so far by the processes of the output command's group.
kcat_read() {
  local p n sum=0
  for p in $(ps -e -o pid=,pgid= | awk -v g="$group" '$2 == g { print $1 }'); do
    n=$(awk '/^rchar:/ { print $2 }' "/proc/$p/io" 2>/dev/null) || n=0
    sum=$((sum + ${n:-0}))
  done
  echo "$sum"
}

# Phase 3: kill -9 while a writer appends and the collector works through
# a backlog of 27 MB: once kcat has read 4 MB of it, so that the kill
# likely falls between a write and its checkpoint. The kcat left behind gets EOF
# and should send what it holds and exit by itself.
start_collector
paced k.log 3000 300
sleep 3
group=$(ps -o pid= --ppid "$collector_pid" | head -n 1 | tr -d " ")
groups+=("$group")
before=$(kcat_read)
burst backlog.log 150000
until=$((SECONDS + 20))
read_at_kill=0
while [ "$read_at_kill" -lt 4000000 ] && [ "$SECONDS" -lt "$until" ]; do
  sleep 0.01
  read_at_kill=$(($(kcat_read) - before))
done
# Without bash's "Killed" line: it reports on its own stderr.
exec 3>&2 2> /dev/null
kill -KILL "$collector_pid"
t=$(date +%s.%N)
wait "$collector_pid" || true
exec 2>&3 3>&-
declare -A at_kill
# Non-empty lines, as compare numbers them.
for f in "$tmp"/logs/*; do at_kill[$(basename "$f")]=$(LC_ALL=C grep -c . "$f" || true); done
burst a.log 2000
if wait_for 30 '! group_alive "$group"'; then
  kcat_note="the kcat left by the killed collector sent what it held and exited by itself, $(echo "$(date +%s.%N) $t" | awk '{printf "%.1f", $1 - $2}') s after the kill"
else
  kcat_note="the kcat left by the killed collector was still running 30 s later (ended by the test)"
  kill -TERM -- "-$group" 2>/dev/null || true
fi
start_collector
wait "$writer"
settle "phase 3"
stop_and_read "phase 3"
# At-least-once: nothing lost; per file at most one contiguous run of
# repeats, each line once more, all written before the kill.
problems=()
runs=()
[ "$all_missing" = 0 ] || problems+=("$all_missing missing")
[ "$all_foreign" = 0 ] || problems+=("$all_foreign not written by the test")
[ "$all_dupinput" = 0 ] || problems+=("$all_dupinput input lines not unique (a test bug)")
if [ "$ordered" = yes ] && [ "$all_misorder" != 0 ]; then problems+=("$all_misorder out of order"); fi
while read -r _ name lines _ _ rep lo hi over2 _; do
  [ "$rep" != 0 ] || [ "$over2" != 0 ] || continue
  runs+=("$name lines $lo-$hi")
  [ "$over2" = 0 ] || problems+=("$name: $over2 lines three times or more")
  [ $((hi - lo + 1)) = "$rep" ] || problems+=("$name: $rep repeats not one run (lines $lo-$hi)")
  [ "$hi" -le "${at_kill[$name]:-0}" ] ||
    problems+=("$name: line $hi repeated, written after the kill (${at_kill[$name]:-0} lines then)")
done < <(grep '^file ' "$tmp/compare")
if [ "${#problems[@]}" = 0 ]; then
  if [ "$all_repeated" = 0 ]; then detail="none repeated"
  else detail="$all_repeated repeated ($(IFS=,; echo "${runs[*]}")), as at-least-once allows"; fi
  pass "phase 3: $all_lines lines written, $(wc -l < "$tmp/consumed") consumed after kill -9 and a clean stop: none lost${order_note}, $detail"
else
  fail "phase 3: $all_lines lines written, $(wc -l < "$tmp/consumed") consumed: $(IFS=,; echo "${problems[*]}")"
  grep '^file ' "$tmp/compare" | sed 's/^/    /'
fi
echo "    $kcat_note; kcat had read $((read_at_kill / 1000000)) MB of the 27 MB backlog at the kill"
echo "    $all_empty empty line(s) written and, as expected, not in the topic: kcat -P sends no message for an empty line"

restarts=$(grep -c 'output command .* started it again' "$tmp/collector.log" || true)
kcat_errors=$(grep -c '^% ERROR' "$tmp/collector.log" || true)
echo "    output command restarted $restarts times by the collector; kcat logged $kcat_errors errors (collector.log${tansu:+; the broker is down at first})"

if [ "${#failed[@]}" = 0 ]; then
  echo "kafka: PASS, $all_lines lines through $broker in $(elapsed) s"
else
  echo "kafka: FAIL (${failed[*]}) after $(elapsed) s"
  exit 1
fi
