# Shared shell functions for the private IMAP server scripts in this folder.
# Sourced (never run) by dovecot.sh, mailutils.sh, cyrus.sh and courier.sh; it needs bash >= 5.1
# (for $SRANDOM), coreutils, openssl and, when root, setpriv (util-linux).
# shellcheck shell=bash

# The uid/gid that owns the test mailbox when running as root ("nobody"/"nogroup" on Debian).
MAIL_UID=65534
MAIL_GID=65534
# Ports are drawn below the kernel's ephemeral range (32768+) so an outgoing connection cannot
# grab a port between our check and the server's bind.
PORT_MIN=20000
PORT_MAX=32000
# Seconds to wait for a server's ports to accept connections.
READY_TIMEOUT=${IMAP_READY_TIMEOUT:-10}

die() {
  printf '%s: %s\n' "${0##*/}" "$*" >&2
  exit 1
}

is_root() { [[ $(id -u) -eq 0 ]]; }

# usage NAME: print the command line help for a server script and exit 2.
usage() {
  cat >&2 <<EOF
usage: ${0##*/} start DIR   start a private $1 instance whose state lives in DIR; prints its env
       ${0##*/} stop DIR    stop that instance and every process it left (idempotent)
       ${0##*/} available   exit 0 when $1 is installed
EOF
  exit 2
}

# test_credentials: set IMAP_USER/IMAP_PASS (defaults imaptest/imaptest) and reject characters
# that would break the line-based user files the servers read.
test_credentials() {
  IMAP_USER=${IMAP_USER:-imaptest}
  IMAP_PASS=${IMAP_PASS:-imaptest}
  [[ $IMAP_USER =~ ^[A-Za-z0-9._-]+$ ]] ||
    die "IMAP_USER \"$IMAP_USER\" must match [A-Za-z0-9._-]+"
  [[ $IMAP_PASS != *[:$'\n\r\t|']* && -n $IMAP_PASS ]] ||
    die "IMAP_PASS must be non-empty and hold no ':', '|', tab or line break"
}

# prepare_dir DIR: create DIR, make it world-searchable, and print its absolute path. As root, the
# unprivileged service users must reach it: stop with a clear message naming the parent that
# blocks them (we never chmod folders we did not create).
prepare_dir() {
  local dir=$1 abs parent
  [[ -n $dir ]] || die "the instance DIR argument is missing"
  mkdir -p -- "$dir" || die "cannot create \"$dir\""
  abs=$(cd -- "$dir" && pwd -P) || die "cannot enter \"$dir\""
  chmod 755 -- "$abs"
  if is_root && ! setpriv --reuid="$MAIL_UID" --regid="$MAIL_GID" --clear-groups \
    test -x "$abs"; then
    parent=$abs
    while [[ $parent != / ]]; do
      parent=${parent%/*}
      parent=${parent:-/}
      if ! setpriv --reuid="$MAIL_UID" --regid="$MAIL_GID" --clear-groups test -x "$parent"; then
        die "folder \"$parent\" is not searchable by unprivileged users (mode $(stat -c %a "$parent")): put the instance dir elsewhere or run chmod o+x \"$parent\""
      fi
    done
    die "folder \"$abs\" is not searchable by unprivileged users"
  fi
  printf '%s\n' "$abs"
}

# port_in_use PORT: true when any IPv4/IPv6 TCP socket uses PORT locally (listening or not).
port_in_use() {
  local hex
  hex=$(printf '%04X' "$1")
  awk -v p=":$hex" 'FNR > 1 && substr($2, length($2) - 4) == p { found = 1; exit }
    END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# pick_ports N: print N distinct free random ports, space separated.
pick_ports() {
  local n=$1 picked=() p tries=0
  while ((${#picked[@]} < n)); do
    ((tries++ < 1000)) || die "no free TCP port found between $PORT_MIN and $PORT_MAX"
    p=$((PORT_MIN + SRANDOM % (PORT_MAX - PORT_MIN + 1)))
    [[ " ${picked[*]} " == *" $p "* ]] && continue
    port_in_use "$p" && continue
    picked+=("$p")
  done
  printf '%s\n' "${picked[*]}"
}

# lock_ports: serialise port picking and start-up between concurrent starts by the same user, so
# two instances never pick the same free port. Daemons must be started with the lock's descriptor
# closed ("${PORT_LOCK_FD}>&-", see daemon_fds), or they would hold the lock for their lifetime.
lock_ports() {
  local lock="${TMPDIR:-/tmp}/imaptest-ports.$(id -u).lock"
  exec {PORT_LOCK_FD}>>"$lock" || die "cannot open lock file \"$lock\""
  flock -w 60 "$PORT_LOCK_FD" || die "timed out waiting for lock \"$lock\""
}

# unlock_ports: release the lock taken by lock_ports (also released when the script exits).
unlock_ports() {
  exec {PORT_LOCK_FD}>&-
}

# detached CMD...: run CMD in a new session with stdio on the instance logs and the lock's
# descriptor closed, and wait for it (daemons fork and return). Needs DIR in $INSTANCE_DIR.
detached() {
  setsid --wait "$@" </dev/null >>"$INSTANCE_DIR/log/start.log" 2>&1 {PORT_LOCK_FD}>&-
}

# port_accepts PORT: true when 127.0.0.1:PORT accepts a TCP connection.
port_accepts() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# wait_ports PIDFILE_OR_EMPTY PORT...: wait up to READY_TIMEOUT seconds until every PORT accepts.
# Returns 1 on timeout, or early when the process named in the pid file (once written) has died.
wait_ports() {
  local pidfile=$1 p pid deadline
  shift
  deadline=$((SECONDS + READY_TIMEOUT))
  while ((SECONDS <= deadline)); do
    local ok=1
    for p in "$@"; do
      port_accepts "$p" || {
        ok=0
        break
      }
    done
    ((ok)) && return 0
    if [[ -n $pidfile && -s $pidfile ]]; then
      pid=$(<"$pidfile")
      alive "$pid" || return 1
    fi
    sleep 0.05
  done
  return 1
}

# make_cert DIR: write a fresh self-signed RSA-2048 certificate for localhost/127.0.0.1 into
# DIR/ssl/cert.pem and its key into DIR/ssl/key.pem (0600, the servers read it as root). It is
# marked CA:FALSE/serverAuth: rustls (Deno) rejects a CA:TRUE certificate presented by a server
# ("CaUsedAsEndEntity"), which is what a plain "openssl req -x509" makes.
make_cert() {
  local ssl=$1/ssl
  mkdir -p "$ssl"
  chmod 755 "$ssl"
  (umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -addext "basicConstraints=critical,CA:FALSE" -addext "keyUsage=critical,digitalSignature,keyEncipherment" \
    -addext "extendedKeyUsage=serverAuth" \
    -keyout "$ssl/key.pem" -out "$ssl/cert.pem" >"$1/log/openssl.log" 2>&1) ||
    die "openssl could not create the certificate (see $1/log/openssl.log)"
  chmod 644 "$ssl/cert.pem"
}

# make_maildir PATH: create an empty maildir (cur/new/tmp).
make_maildir() {
  mkdir -p "$1/cur" "$1/new" "$1/tmp"
}

# own_mail PATH...: give the mail tree to the mail uid when root (the servers refuse uid 0).
own_mail() {
  if is_root; then
    chown -R "$MAIL_UID:$MAIL_GID" "$@"
  fi
}

# json_array ARG...: print ARG... as a JSON array of strings.
json_array() {
  local out='[' sep='' a
  for a in "$@"; do
    [[ $a == *[[:cntrl:]]* ]] && die "argument \"$a\" holds a control character"
    a=${a//\\/\\\\}
    a=${a//\"/\\\"}
    out+="$sep\"$a\""
    sep=,
  done
  printf '%s]\n' "$out"
}

# write_env DIR LINE...: write the KEY=value lines to DIR/env atomically and print them.
write_env() {
  local dir=$1
  shift
  printf '%s\n' "$@" >"$dir/env.tmp"
  chmod 644 "$dir/env.tmp"
  mv -f "$dir/env.tmp" "$dir/env"
  printf '%s\n' "$@"
}

# session_of PID: set SESSION to the session id of PID, or to "" if it is gone or a zombie (the
# sandbox's init reaps orphans late, so a zombie counts as ended). No subshell: stop scans every
# process, and a fork per process made that take a second.
session_of() {
  local stat rest state
  SESSION=
  read -r stat 2>/dev/null <"/proc/$1/stat" || return 0
  rest=${stat##*) }
  # Fields after the command name: state ppid pgrp session ...
  read -r state _ _ SESSION _ <<<"$rest"
  [[ $state == Z || $state == X ]] && SESSION=
  return 0
}

# alive PID...: true when at least one PID runs (zombies do not count).
alive() {
  local p
  for p in "$@"; do
    session_of "$p"
    [[ -n $SESSION ]] && return 0
  done
  return 1
}

# instance_pids DIR SID...: print the pids of processes that belong to the instance: those in one
# of the sessions SID (daemon children) and those with an argument under DIR/ (preauth sessions),
# leaving out this script and its ancestors.
instance_pids() {
  local dir=$1 pid sid s arg self=() p=$$
  shift
  while [[ -n $p && $p != 0 && $p != 1 ]]; do
    self+=("$p")
    p=$(awk '/^PPid:/ { print $2 }' "/proc/$p/status" 2>/dev/null) || p=
  done
  self+=("$BASHPID")
  for pid in /proc/[0-9]*; do
    pid=${pid#/proc/}
    [[ " ${self[*]} " == *" $pid "* ]] && continue
    session_of "$pid"
    sid=$SESSION
    [[ -z $sid ]] && continue
    for s in "$@"; do
      if [[ -n $s && $sid == "$s" ]]; then
        printf '%s\n' "$pid"
        continue 2
      fi
    done
    while IFS= read -r -d '' arg; do
      if [[ $arg == *"$dir/"* ]]; then
        printf '%s\n' "$pid"
        continue 2
      fi
    done 2>/dev/null <"/proc/$pid/cmdline"
  done
}

# end_instance DIR PIDFILE...: SIGTERM the daemons named in the pid files (only when their command
# line still names DIR, so a stale pid reused by another program is left alone), then end every
# process left in their sessions or running with an argument under DIR/ (TERM, then KILL). Safe
# to call when nothing runs.
end_instance() {
  local dir=$1 f pid sid own sids=() pids deadline
  shift
  session_of $$
  own=$SESSION
  for f in "$@"; do
    [[ -s $f ]] || continue
    pid=$(<"$f")
    [[ $pid =~ ^[0-9]+$ ]] || continue
    grep -qsF -- "$dir/" "/proc/$pid/cmdline" || continue
    session_of "$pid"
    sid=$SESSION
    # Never sweep our own session (a daemon that did not detach would share it with the caller).
    [[ -n $sid && $sid != "$own" ]] && sids+=("$sid")
    kill -TERM "$pid" 2>/dev/null
  done
  # The whole session gets SIGTERM at once (Dovecot's master alone takes 1.1 s to end its
  # children), and what is left after 0.4 s gets SIGKILL: these are throwaway test
  # instances, and Dovecot's master lingers for a second after its children have ended.
  deadline=$((${EPOCHREALTIME/./} + 400000))
  while :; do
    mapfile -t pids < <(instance_pids "$dir" "${sids[@]}")
    ((${#pids[@]} == 0)) && break
    if ((${EPOCHREALTIME/./} >= deadline)); then
      kill -KILL "${pids[@]}" 2>/dev/null
      sleep 0.1
      mapfile -t pids < <(instance_pids "$dir" "${sids[@]}")
      ((${#pids[@]} == 0)) || printf '%s: processes still running: %s\n' "${0##*/}" "${pids[*]}" >&2
      break
    fi
    kill -TERM "${pids[@]}" 2>/dev/null
    sleep 0.05
  done
}

# stop_instance DIR PIDFILE: end the instance whose state lives in DIR (see end_instance), PIDFILE
# being its daemon's pid file relative to DIR, and remove that file. Idempotent.
stop_instance() {
  local dir
  [[ -n ${1:-} ]] || die "the instance DIR argument is missing"
  [[ -d $1 ]] || return 0
  dir=$(cd -- "$1" && pwd -P)
  end_instance "$dir" "$dir/$2"
  rm -f "$dir/$2"
}

# main NAME NOT_INSTALLED ARGS...: the command line of every server script (start DIR, stop DIR,
# available), dispatched to the script's own start, stop and available functions.
main() {
  local name=$1 missing=$2
  shift 2
  case ${1:-} in
    start) [[ $# -eq 2 ]] || usage "$name"; available || die "$missing"; start "$2" ;;
    stop) [[ $# -eq 2 ]] || usage "$name"; stop "$2" ;;
    available) available ;;
    *) usage "$name" ;;
  esac
}
