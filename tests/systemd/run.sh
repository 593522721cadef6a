#!/usr/bin/env bash
# The service under a real systemd: boots systemd as PID 1 of new pid, mount,
# cgroup and uts namespaces, on an overlay of / whose upper layer is a tmpfs
# (nothing of the host changes), installs the collector and its unit there,
# and checks how the unit behaves: READY, STATUS, reload, stop, restart,
# the watchdog, DynamicUser and its directories, the security exposure and
# what a usage error does.
#
#   tests/systemd/run.sh [--deb FILE] [BINARY]
#
# BINARY: the collector to install (default target/debug/log-collector, else
# target/release/log-collector), with systemd/log-collector.service and the
# man page. --deb FILE: install that package with dpkg -i instead.
# LC_SYSTEMD_CHECKS: the checks to run (names as printed; default all).
# LC_SECURITY_MAX: the highest `systemd-analyze security` exposure that
# passes (2.0). Needs root, unshare, nsenter, overlayfs, a cgroup2 hierarchy
# and systemd; without them it prints SKIPPED and exits 0, or fails under
# LOG_COLLECTOR_STRICT=1. Exits 1 when a check fails.
set -euo pipefail
started_at=$(date +%s.%N)

unit=log-collector.service
security_max=${LC_SECURITY_MAX:-2.0}
deb=
binary=
while [ $# -gt 0 ]; do
  case $1 in
    --deb) deb=${2:?--deb needs a .deb file}; shift 2 ;;
    -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $1; see $0 --help" >&2; exit 2 ;;
    *) binary=$1; shift ;;
  esac
done
for f in ${deb:+"$deb"} ${binary:+"$binary"}; do
  if [ ! -f "$f" ]; then
    echo "$f: no such file; name a built collector (or a .deb with --deb)" >&2
    exit 2
  fi
done
# Named from where the script was started; the rest is relative to the repository.
[ -z "$deb" ] || deb=$(realpath "$deb")
[ -z "$binary" ] || binary=$(realpath "$binary")
cd "$(dirname "$0")/../.."

if [ -n "$deb" ] && [ -n "$binary" ]; then
  echo "give either --deb FILE or BINARY, not both" >&2
  exit 2
fi
if [ -z "$deb" ] && [ -z "$binary" ]; then
  for b in target/debug/log-collector target/release/log-collector; do
    if [ -x "$b" ]; then binary=$b; break; fi
  done
  if [ -z "$binary" ]; then
    echo "no collector binary in target/debug or target/release; run \`make build\` or name one" >&2
    exit 2
  fi
fi

elapsed() { echo "$(date +%s.%N) $started_at" | awk '{printf "%.1f", $1 - $2}'; }

skip() {
  if [ "${LOG_COLLECTOR_STRICT:-}" = 1 ]; then
    echo "FAIL systemd: cannot run the checks: $*" >&2
    exit 1
  fi
  echo "SKIPPED systemd checks: $*"
  exit 0
}

# ---- preconditions ---------------------------------------------------------

[ "$(id -u)" = 0 ] || skip "not root (the namespaces, mounts and cgroup need it)"
for c in unshare nsenter pivot_root mknod mountpoint awk; do
  command -v "$c" >/dev/null || skip "no $c (util-linux, coreutils)"
done
[ -x /lib/systemd/systemd ] || skip "no /lib/systemd/systemd: apt-get install systemd"
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
grep -qw overlay /proc/filesystems || skip "no overlayfs in this kernel"
if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
  cgroot=/sys/fs/cgroup
elif [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
  cgroot=/sys/fs/cgroup/unified
else
  skip "no cgroup2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified"
fi

# ---- the machine -----------------------------------------------------------

top=$(mktemp -d /tmp/lc-systemd.XXXXXX)
root=$top/root
cg=$cgroot/lc-systemd-test.$$
unshare_pid=
sd_pid=

teardown() {
  set +e
  # Helpers a check left behind (a FIFO reader), then the machine: killing
  # its PID 1 ends every process in its pid namespace.
  if [ -f "$top/pids" ]; then
    while read -r p; do kill -KILL "$p" 2>/dev/null; done < "$top/pids"
  fi
  # unshare reaps systemd and exits; without a systemd it is killed itself.
  if [ -n "$sd_pid" ]; then
    kill -KILL "$sd_pid" 2>/dev/null
  elif [ -n "$unshare_pid" ]; then
    kill -KILL "$unshare_pid" 2>/dev/null
  fi
  if [ -n "$unshare_pid" ]; then wait "$unshare_pid" 2>/dev/null; fi
  if [ -d "$cg" ]; then
    for _ in $(seq 50); do
      find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
      [ -d "$cg" ] || break
      sleep 0.1
    done
    [ -d "$cg" ] && echo "warning: cgroup $cg is left behind" >&2
  fi
  for m in "$root" "$top"; do
    if mountpoint -q "$m"; then
      umount "$m" 2>/dev/null || { sleep 0.5; umount "$m"; } ||
        echo "warning: cannot unmount $m" >&2
    fi
  done
  rmdir "$top" 2>/dev/null
}
# A check runs in a subshell of its own: a signal ends it too, then the rest.
check_pid=
on_signal() {
  if [ -n "$check_pid" ]; then kill -TERM "$check_pid" 2>/dev/null; fi
  exit 130
}
trap teardown EXIT
trap on_signal INT TERM

mount -t tmpfs -o mode=0755 lc-systemd "$top"
mkdir "$top/upper" "$top/work" "$root"
mount -t overlay lc-systemd-root -o "lowerdir=/,upperdir=$top/upper,workdir=$top/work" "$root" ||
  skip "cannot mount an overlay of / (a root filesystem overlayfs does not take as a lower layer?)"
: > "$top/pids"

# Only journald besides what the collector's unit pulls in.
cat > "$root/etc/systemd/system/lc-test.target" <<'EOF'
[Unit]
Description=log-collector checks
DefaultDependencies=no
Wants=systemd-journald.socket systemd-journald.service
EOF

mkdir "$cg" || skip "cannot make a cgroup under $cgroot"
# The subshell joins the cgroup and becomes unshare, whose forked child (PID 1
# of the new pid namespace) mounts the API filesystems and becomes systemd.
(
  echo "$BASHPID" > "$cg/cgroup.procs"
  exec unshare --pid --mount --uts --cgroup --fork --propagation private \
    bash -c '
      set -e
      r=$1
      mount -t proc proc "$r/proc"
      mount -t sysfs sysfs "$r/sys"
      mount -t cgroup2 cgroup2 "$r/sys/fs/cgroup"
      mount -t tmpfs -o mode=0755 dev "$r/dev"
      for n in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
        IFS=: read -r name major minor <<< "$n"
        mknod -m 0666 "$r/dev/$name" c "$major" "$minor"
      done
      mkdir "$r/dev/pts" "$r/dev/shm"
      mount -t devpts -o newinstance,ptmxmode=0666 devpts "$r/dev/pts"
      ln -s pts/ptmx "$r/dev/ptmx"
      hostname lc-test
      # pivot_root, not chroot: in a chroot the kernel refuses user
      # namespaces (PrivateUsers=).
      cd "$r"
      pivot_root . .
      umount -l .
      exec env -i container=log-collector-test \
        /lib/systemd/systemd --unit=lc-test.target
    ' boot "$root"
) > "$top/console.log" 2>&1 &
unshare_pid=$!

for _ in $(seq 100); do
  sd_pid=$(pgrep -P "$unshare_pid" 2>/dev/null | head -1) || true
  if [ -n "$sd_pid" ] && [ "$(cat "/proc/$sd_pid/comm" 2>/dev/null)" = systemd ]; then break; fi
  sd_pid=
  kill -0 "$unshare_pid" 2>/dev/null || break
  sleep 0.1
done

# Runs a command inside the machine (its namespaces, root and cwd).
sd() {
  SYSTEMD_PAGER=cat SYSTEMD_COLORS=0 nsenter -t "$sd_pid" -m -p -u -C -r -w -- "$@"
}

booted=
if [ -n "$sd_pid" ]; then
  for _ in $(seq 200); do
    case $(sd systemctl is-system-running 2>/dev/null) in
      running | degraded) booted=yes; break ;;
    esac
    sleep 0.1
  done
fi
if [ -z "$booted" ]; then
  cat "$top/console.log" >&2
  skip "systemd did not boot in the namespaces (its output is above)"
fi
echo "systemd booted as PID 1 of its namespaces (host PID $sd_pid) in $(elapsed) s"

# ---- helpers ---------------------------------------------------------------

# How many checks passed, and the names of those that failed.
passed=0
failed=()

# Ends the check (its subshell) with a reason, on stdout beside PASS/FAIL.
fail() {
  echo "    $*"
  exit 1
}

# Polls the shell condition $2 for up to $1 seconds; fails with message $3
# (both evaluated each time, so they speak of the state at the end).
wait_for() {
  local secs=$1 cond=$2 what=$3
  local until=$(($(date +%s) + secs))
  while ! eval "$cond" 2>/dev/null; do
    [ "$(date +%s)" -lt "$until" ] || fail "after ${secs}s: $(eval "echo \"$what\"")"
    sleep 0.1
  done
}

# Lines in a file, 0 when it is not there.
lines() { if [ -e "$1" ]; then wc -l < "$1"; else echo 0; fi; }

prop() { sd systemctl show -p "$1" --value "$unit"; }
prop_is() { [ "$(prop "$1")" = "$2" ]; }
journal() { sd journalctl -q -u "$unit" -o cat --no-pager; }
# How many journal lines the unit has so far; `journal_since N` gives the rest.
journal_mark() { journal | wc -l; }
journal_since() { journal | tail -n "+$(($1 + 1))"; }
# Not grep -q: with pipefail, an early exit would fail the pipeline (SIGPIPE).
journal_has() { journal_since "$1" | grep -F -- "$2" > /dev/null; }

# Starts a helper on the host, kept in the list the teardown kills.
track() { echo "$1" >> "$top/pids"; }

logdir=/var/log/lc-test
log=$logdir/a.log
outdir=/var/log/log-collector
out=$outdir/lines.log
# Not in the LogsDirectory (under DynamicUser= that is
# /var/log/private/log-collector, made at start), nor in /run (a tmpfs
# of the machine's own, which the host does not see).
fifodir=/srv/lc-test
fifo=$fifodir/out.fifo
conf=/etc/log-collector.conf
dropin=/etc/systemd/system/$unit.d

write_conf() {
  local output=$1
  shift
  {
    echo "path = $logdir/*.log"
    echo "output = $output"
    echo "interval = 100ms"
    printf '%s\n' "$@"
  } > "$root$conf"
}

# Appends lines "NAME 1".."NAME COUNT" to the test log.
append() {
  local name=$1 count=$2
  seq -f "$name %g" "$count" >> "$root$log"
}

# Each check starts from here: the unit stopped and reset, no drop-ins, the
# default config, an empty root:adm 0640 log, no state, no output.
reset() {
  sd systemctl stop "$unit" 2>/dev/null || true
  sd systemctl reset-failed "$unit" 2>/dev/null || true
  if [ -d "$root$dropin" ]; then
    rm -rf "$root$dropin"
    sd systemctl daemon-reload
  fi
  rm -rf "$root/var/lib/private/log-collector" "$root/var/lib/log-collector" \
    "$root/var/log/private/log-collector" "$root$outdir" "$root$logdir" "$root$fifodir"
  mkdir -p "$root$logdir"
  chown root:adm "$root$logdir"
  chmod 0750 "$root$logdir"
  install -o root -g adm -m 0640 /dev/null "$root$log"
  write_conf "$out"
}

make_fifo() {
  mkdir -p "$root$fifodir"
  mkfifo -m 0666 "$root$fifo"
}

add_dropin() {
  mkdir -p "$root$dropin"
  printf '[Service]\n%s\n' "$@" > "$root$dropin/test.conf"
  sd systemctl daemon-reload
}

start() {
  sd systemctl start "$unit" 2>/dev/null ||
    fail "systemctl start failed ($(prop ActiveState)/$(prop SubState)); the journal ends:
$(journal | tail -5)"
}

# Runs one check in a subshell: PASS or FAIL with its name.
check() {
  local name=$1
  # In the background, so that `wait` (unlike a foreground subshell) gives
  # way to a signal at once.
  (
    set -e
    reset
    "check_${name//-/_}"
  ) &
  check_pid=$!
  local rc=0
  wait "$check_pid" || rc=$?
  check_pid=
  if [ "$rc" = 0 ]; then
    echo "PASS $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name"
    failed+=("$name")
  fi
}

# ---- install ---------------------------------------------------------------

if [ -n "$deb" ]; then
  cp "$deb" "$root/var/cache/log-collector-test.deb"
  install_log=$(sd dpkg -i /var/cache/log-collector-test.deb 2>&1) || {
    echo "$install_log" >&2
    echo "FAIL install: dpkg -i $deb"
    exit 1
  }
else
  install -Dm755 "$binary" "$root/usr/local/bin/log-collector"
  install -Dm644 systemd/log-collector.service "$root/usr/local/lib/systemd/system/$unit"
  install -Dm644 man/log-collector.1 "$root/usr/local/share/man/man1/log-collector.1"
fi
sd systemctl daemon-reload

check_install() {
  prop_is LoadState loaded || fail "$unit is not loaded: $(prop LoadState)"
  local exe
  exe=$(sd systemctl show -p ExecStart --value "$unit" | sed -n 's/.*path=\([^ ;]*\).*/\1/p')
  sd test -x "$exe" || fail "ExecStart names $exe, which is not installed"
  sd "$exe" --version > /dev/null || fail "$exe --version failed"
  compgen -G "$root/usr/local/share/man/man1/log-collector.1*" > /dev/null ||
    compgen -G "$root/usr/share/man/man1/log-collector.1*" > /dev/null ||
    fail "no man page log-collector.1 in /usr/local/share/man or /usr/share/man"
}

# READY=1 comes after the first cycle, which a FIFO without a reader holds up.
check_ready_gating() {
  make_fifo
  write_conf "$fifo"
  append ready 3
  local mark
  mark=$(journal_mark)
  sd systemctl start --no-block "$unit"
  wait_for 10 'journal_has "$mark" "waiting for a reader on FIFO"' "no 'waiting for a reader' in the journal"
  sleep 0.5
  prop_is ActiveState activating || fail "without a reader the unit is $(prop ActiveState), not activating"
  cat "$root$fifo" > "$top/ready.out" &
  track $!
  wait_for 10 'prop_is ActiveState active' 'with a reader the unit is $(prop ActiveState), not active'
  wait_for 10 '[ "$(lines "$top/ready.out")" = 3 ]' 'the reader got $(lines "$top/ready.out") lines, not 3'
}

check_status_text() {
  append status 5
  start
  local want="following 1 files; 5 lines delivered"
  [ "$(prop StatusText)" = "$want" ] || fail "StatusText is '$(prop StatusText)', not '$want'"
  # Refreshed every 10 s.
  append more 2
  want="following 1 files; 7 lines delivered"
  wait_for 25 'prop_is StatusText "$want"' "StatusText is '\$(prop StatusText)', not '$want'"
}

check_reload_reopens_output() {
  append before 2
  start
  wait_for 10 '[ "$(lines "$root$out")" = 2 ]' 'the output has $(lines "$root$out") lines, not 2'
  mv "$root$out" "$root$out.1"
  local pid mark
  pid=$(prop MainPID)
  mark=$(journal_mark)
  sd systemctl reload "$unit"
  wait_for 10 'journal_has "$mark" "reopened output file $out"' "no 'reopened output file $out' in the journal"
  append after 3
  wait_for 10 '[ "$(cat "$root$out")" = "$(seq -f "after %g" 3)" ]' \
    "the lines after the reload are not in a new $out"
  [ "$(cat "$root$out.1")" = "$(seq -f 'before %g' 2)" ] || fail "the renamed output changed"
  [ "$(prop MainPID)" = "$pid" ] || fail "reload changed the main PID"
  prop_is ActiveState active || fail "after reload the unit is $(prop ActiveState)"
}

# A reload with the output where it was (not rotated) reopens it quietly.
check_reload_unrotated_output() {
  append before 2
  start
  wait_for 10 '[ "$(lines "$root$out")" = 2 ]' 'the output has $(lines "$root$out") lines, not 2'
  local mark
  mark=$(journal_mark)
  sd systemctl reload "$unit"
  wait_for 10 'journal_has "$mark" "reload:" || journal_has "$mark" "kept open"' "nothing in the journal after the reload"
  append after 2
  wait_for 10 '[ "$(lines "$root$out")" = 4 ]' 'the output has $(lines "$root$out") lines, not 4'
  # Still the same file: it is kept open, with no error.
  if journal_since "$mark" | grep -q "ERROR\|another collector"; then
    journal_since "$mark" | sed 's/^/    journal: /'
    fail "the reload logged an error"
  fi
  if ! journal_has "$mark" "output file $out is still in place; kept open"; then
    journal_since "$mark" | sed 's/^/    journal: /'
    fail "the reload did not say the output file was kept"
  fi
}

check_bad_config_reload_keeps_running() {
  start
  local pid mark
  pid=$(prop MainPID)
  write_conf "$outdir/other.log" "format = yaml"
  mark=$(journal_mark)
  sd systemctl reload "$unit"
  wait_for 10 'journal_has "$mark" "keeping the current settings"' \
    "no 'reload: ...; keeping the current settings' in the journal"
  journal_since "$mark" | grep -F "reload:" | sed 's/^/    journal: /'
  prop_is ActiveState active || fail "after a bad reload the unit is $(prop ActiveState)"
  [ "$(prop MainPID)" = "$pid" ] || fail "the main PID changed"
  append kept 2
  wait_for 10 '[ "$(cat "$root$out")" = "$(seq -f "kept %g" 2)" ]' \
    "new lines do not reach the old output $out"
  [ ! -e "$root$outdir/other.log" ] || fail "the broken config's output was opened"
}

check_stop_is_clean() {
  append line 2
  start
  local cgroup
  cgroup=$(prop ControlGroup)
  [ -n "$cgroup" ] || fail "no control group while running"
  sd systemctl stop "$unit"
  prop_is ActiveState inactive || fail "after stop the unit is $(prop ActiveState)"
  prop_is Result success || fail "Result is $(prop Result)"
  prop_is ExecMainStatus 0 || fail "the collector exited with $(prop ExecMainStatus)"
  local procs="$cg$cgroup/cgroup.procs"
  if [ -e "$procs" ] && [ -s "$procs" ]; then
    fail "processes left in $cgroup: $(tr '\n' ' ' < "$procs")"
  fi
}

check_restart_resumes_exactly() {
  append first 100
  start
  wait_for 10 '[ "$(lines "$root$out")" = 100 ]' 'the output has $(lines "$root$out") lines, not 100'
  sd systemctl stop "$unit"
  append stopped 50
  start
  append running 25
  wait_for 10 '[ "$(lines "$root$out")" -ge 175 ]' 'the output has $(lines "$root$out") lines, not 175'
  sd systemctl stop "$unit"
  cmp "$root$log" "$root$out" || fail "the output differs from the log (lines lost or repeated)"
}

check_watchdog_restarts_hung() {
  # A stopped process takes no SIGABRT: TimeoutAbortSec bounds the wait for SIGKILL.
  add_dropin "WatchdogSec=2s" "TimeoutAbortSec=2s"
  start
  local pid restarts
  pid=$(prop MainPID)
  restarts=$(prop NRestarts)
  sd kill -STOP "$pid"
  wait_for 20 '[ "$(prop NRestarts)" -gt "$restarts" ]' \
    'a stopped collector (PID $pid) was not restarted: $(prop ActiveState)/$(prop SubState), NRestarts=$(prop NRestarts)'
  wait_for 10 'prop_is ActiveState active' 'after the watchdog restart the unit is $(prop ActiveState)'
  [ "$(prop MainPID)" != "$pid" ] || fail "the main PID is still $pid"
  sd kill -CONT "$pid" 2>/dev/null || true
  sd journalctl -q -u "$unit" -o cat --no-pager | grep -i "watchdog" | tail -1 | sed 's/^/    journal: /'
}

check_watchdog_blocked_output() {
  add_dropin "WatchdogSec=2s"
  make_fifo
  write_conf "$fifo"
  # A reader that opens the FIFO and never reads.
  sleep 600 < "$root$fifo" &
  track $!
  start
  local pid
  pid=$(prop MainPID)
  # Far more than a pipe holds: the collector's write blocks.
  seq -f "blocked line %g, padded to fill the pipe quickly ........................" 20000 >> "$root$log"
  sleep 7
  prop_is ActiveState active || fail "under a blocked output the unit is $(prop ActiveState)/$(prop SubState)"
  prop_is NRestarts 0 || fail "the watchdog restarted it $(prop NRestarts) times"
  [ "$(prop MainPID)" = "$pid" ] || fail "the main PID changed"
  # The collector's write is indeed stuck in the pipe.
  local wchan
  wchan=$(sd cat "/proc/$pid/wchan" 2>/dev/null || true)
  echo "    main PID $pid waits in: ${wchan:-?}"
}

check_dynamic_user_dirs() {
  append secret 4
  start
  wait_for 10 '[ "$(lines "$root$out")" = 4 ]' "the root:adm 0640 log's lines are not delivered"
  local pid uid
  pid=$(prop MainPID)
  uid=$(sd stat -c %u "/proc/$pid")
  [ "$uid" != 0 ] || fail "the collector runs as root"
  echo "    dynamic user: uid $uid ($(sd stat -c %U "/proc/$pid" 2>/dev/null || true))"
  [ "$(readlink "$root/var/lib/log-collector")" = private/log-collector ] ||
    fail "/var/lib/log-collector is not a link to private/log-collector"
  local state=$root/var/lib/private/log-collector
  [ "$(stat -c %u "$state")" = "$uid" ] || fail "the state dir is owned by $(stat -c %u "$state"), not $uid"
  sd systemctl stop "$unit"
  local files
  files=$(find "$state" -type f | wc -l)
  [ "$files" -gt 0 ] || fail "no checkpoint in the state dir"
  [ -z "$(find "$state" ! -uid "$uid")" ] || fail "files in the state dir not owned by $uid: $(find "$state" ! -uid "$uid")"
  [ "$(readlink "$root$outdir")" = private/log-collector ] ||
    fail "$outdir is not a link to private/log-collector"
  [ "$(stat -c %u "$root$out")" = "$uid" ] || fail "$out is not owned by $uid"
}

check_security_score() {
  local report score
  report=$(sd systemd-analyze security --no-pager "$unit" 2>&1) || true
  score=$(echo "$report" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
  [ -n "$score" ] || fail "no score from systemd-analyze security: $(echo "$report" | tail -3)"
  echo "    exposure $score (at most $security_max passes)"
  awk -v s="$score" -v m="$security_max" 'BEGIN { exit !(s <= m) }' ||
    fail "exposure $score is above $security_max: the unit needs more sandboxing (systemd-analyze security $unit lists what)"
}

check_usage_error_not_restarted() {
  write_conf "$out" "format = yaml"
  sd systemctl start --no-block "$unit"
  # Restart= would come back within RestartSec (100 ms) up to the start limit.
  wait_for 20 'prop_is ActiveState failed && [ -z "$(sd systemctl list-jobs --no-legend "$unit")" ]' \
    'the unit never settled in failed: $(prop ActiveState)/$(prop SubState)'
  sleep 1
  local restarts status result
  restarts=$(prop NRestarts)
  status=$(prop ExecMainStatus)
  result=$(prop Result)
  echo "    exit status $status, Result=$result, NRestarts=$restarts"
  [ "$status" = 2 ] || fail "the collector exited with $status, not 2 (usage)"
  [ "$restarts" = 0 ] || fail "a usage error was restarted $restarts times (RestartPreventExitStatus=2 stops that)"
}

for c in ${LC_SYSTEMD_CHECKS:-install ready-gating status-text reload-reopens-output \
  reload-unrotated-output bad-config-reload-keeps-running stop-is-clean restart-resumes-exactly \
  watchdog-restarts-hung watchdog-blocked-output dynamic-user-dirs \
  security-score usage-error-not-restarted}; do
  check "$c"
done

echo "systemd checks: ${passed} passed, ${#failed[@]} failed${failed:+ (${failed[*]})} in $(elapsed) s"
[ "${#failed[@]}" = 0 ]
