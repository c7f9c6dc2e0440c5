#!/usr/bin/env bash
# Start/stop a private Courier-IMAP instance on 127.0.0.1 whose state lives in one folder.
# usage: courier.sh start DIR | stop DIR | available   (see README.md in this folder)
# Root only. Needs the Debian package courier-imap (it conflicts with dovecot-imapd).
# Tested as root beside Dovecot and Mailutils, with courier-imap unpacked (see README.md).
#
# Courier's auth library hard-codes /etc/courier and the authdaemon socket path (misspelt
# "/run/courier/autthdaemon/socket" in Debian 12's libcourierauth), so the daemons run in a
# private mount namespace where DIR/etc is bound on /etc/courier and DIR/run on /run/courier. The
# system's own files and services are untouched; the namespace ends with its last process.
set -euo pipefail
# shellcheck source=_common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/_common.sh"

# courier-imap conflicts with dovecot-imapd: beside Dovecot it can be unpacked (dpkg -x) under
# $IMAPTEST_EXTRACTED/courier-imap instead of installed (see README.md).
EXTRACTED=${IMAPTEST_EXTRACTED:-/opt/imaptest}/courier-imap
if [[ -x /usr/bin/imapd ]]; then IMAPD=/usr/bin/imapd; else IMAPD=$EXTRACTED/usr/bin/imapd; fi
CAPABILITY="IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE"

# find_bin NAME: print the path of a Courier program (Debian moves some between releases).
find_bin() {
  local candidate
  for candidate in "/usr/sbin/$1" "/usr/bin/$1" "/usr/lib/courier/courier-authlib/$1" \
    "/usr/lib/courier/courier/$1" "/usr/lib/courier/$1" "/usr/libexec/courier-authlib/$1" \
    "$EXTRACTED/usr/lib/courier/courier/$1"; do
    [[ -x $candidate ]] && {
      printf '%s\n' "$candidate"
      return 0
    }
  done
  return 1
}

available() {
  [[ -x $IMAPD ]] && find_bin imaplogin >/dev/null && find_bin couriertcpd >/dev/null &&
    find_bin authdaemond >/dev/null && find_bin makeuserdb >/dev/null
}

# write_inner DIR PORT TLSPORT: write DIR/inner.sh, which runs inside the private namespace.
write_inner() {
  local dir=$1 port=$2 tlsport=$3 tcpd imaplogin authdaemond logger makeuserdb couriertls
  tcpd=$(find_bin couriertcpd)
  imaplogin=$(find_bin imaplogin)
  # /usr/sbin/authdaemond is a wrapper that reads the system's config: run the daemon itself.
  if [[ -x /usr/lib/courier/courier-authlib/authdaemond ]]; then
    authdaemond=/usr/lib/courier/courier-authlib/authdaemond
  else
    authdaemond=$(find_bin authdaemond)
  fi
  logger=$(find_bin courierlogger)
  makeuserdb=$(find_bin makeuserdb)
  couriertls=$(find_bin couriertls)
  cat >"$dir/inner.sh" <<EOF
#!/usr/bin/env bash
# Runs in the instance's private mount namespace (see courier.sh).
set -euo pipefail
readlink /proc/self/ns/mnt >"$dir/mntns"
mkdir -p /etc/courier /run/courier
mount --bind "$dir/etc" /etc/courier
mount --bind "$dir/run" /run/courier
"$makeuserdb"
"$logger" -pid="$dir/authdaemon.pid" -start "$authdaemond"
for _ in \$(seq 100); do
  [[ -S /run/courier/authdaemon/socket ]] && break
  sleep 0.05
done
common=(env -i PATH=/usr/bin:/bin:/usr/sbin:/usr/lib/courier
  "IMAP_CAPABILITY=$CAPABILITY" "IMAP_CAPABILITY_ORIG=$CAPABILITY"
  IMAP_KEYWORDS=1 IMAP_ACL=1 IMAP_USELOCKS=1 IMAP_IDLE_TIMEOUT=5 IMAP_ENHANCEDIDLE=0
  IMAP_TRASHFOLDERNAME=Trash IMAP_EMPTYTRASH=Trash:7 IMAP_MOVE_EXPUNGE_TO_TRASH=0
  IMAPDSTART=YES MAXDAEMONS=100 MAXPERIP=100 AUTHSERVICE143=imap
  "COURIERTLS=$couriertls" TLS_PROTOCOL=TLS1_2+ "TLS_CERTFILE=$dir/ssl/both.pem"
  TLS_VERIFYPEER=NONE TLS_CACHEFILE= IMAP_TLS_REQUIRED=0)
"\${common[@]}" IMAP_STARTTLS=YES \\
  "$tcpd" -pid="$dir/imapd.pid" -stderr="$dir/log/imapd.log" -address=127.0.0.1 \\
  -maxprocs=100 -maxperip=100 -nodnslookup -noidentlookup $port \\
  "$imaplogin" "$IMAPD" Maildir
"\${common[@]}" IMAP_STARTTLS=NO IMAP_TLS=1 \\
  "$tcpd" -pid="$dir/imapd-ssl.pid" -stderr="$dir/log/imapd-ssl.log" -address=127.0.0.1 \\
  -maxprocs=100 -maxperip=100 -nodnslookup -noidentlookup $tlsport \\
  "$couriertls" -server -tcpd "$imaplogin" "$IMAPD" Maildir
EOF
  chmod 700 "$dir/inner.sh"
}

start() {
  local dir home port tlsport attempt hash preauth version
  is_root || die "Courier needs root (private mount namespace)"
  dir=$(prepare_dir "$1")
  INSTANCE_DIR=$dir
  if [[ -s $dir/imapd.pid ]] && grep -qsF -- "$dir/" "/proc/$(<"$dir/imapd.pid")/cmdline"; then
    die "an instance already runs in \"$dir\": stop it first"
  fi
  test_credentials
  mkdir -p "$dir/log" "$dir/etc" "$dir/run/authdaemon"
  ln -sfn authdaemon "$dir/run/autthdaemon"
  chmod 755 "$dir/run" "$dir/run/authdaemon"
  make_cert "$dir"
  # imaplogin runs couriertls as user courier: it must read the key.
  cat "$dir/ssl/key.pem" "$dir/ssl/cert.pem" >"$dir/ssl/both.pem"
  chgrp courier "$dir/ssl/both.pem" 2>/dev/null || true
  chmod 640 "$dir/ssl/both.pem"
  home=$dir/home/$IMAP_USER
  make_maildir "$home/Maildir"
  own_mail "$dir/home"
  cat >"$dir/etc/authdaemonrc" <<EOF
authmodulelist="authuserdb"
authmodulelistorig="authuserdb"
daemons=1
authdaemonvar=/run/courier/authdaemon
DEBUG_LOGIN=0
DEFAULTOPTIONS=""
LOGGEROPTS=""
EOF
  hash=$(printf '%s' "$IMAP_PASS" | openssl passwd -1 -stdin)
  printf '%s\tuid=%s|gid=%s|home=%s|mail=%s|systempw=%s\n' "$IMAP_USER" "$MAIL_UID" "$MAIL_GID" \
    "$home" "$home/Maildir" "$hash" >"$dir/etc/userdb"
  chmod 600 "$dir/etc/userdb"
  chmod 644 "$dir/etc/authdaemonrc"

  lock_ports
  for attempt in 1 2 3 4 5; do
    read -r port tlsport < <(pick_ports 2)
    write_inner "$dir" "$port" "$tlsport"
    rm -f "$dir/imapd.pid" "$dir/imapd-ssl.pid" "$dir/authdaemon.pid"
    if detached unshare --mount --propagation private bash "$dir/inner.sh" &&
      wait_ports "" "$port" "$tlsport"; then
      break
    fi
    stop_dir "$dir"
    ((attempt < 5)) || die "courier did not start (see $dir/log/*.log)"
  done
  unlock_ports

  # Preauth: imapd must start in the home folder (a sticky cwd such as /tmp means "locked").
  preauth=(setpriv "--reuid=$MAIL_UID" "--regid=$MAIL_GID" --clear-groups
    env -i -C "$home" PATH=/usr/bin:/bin "HOME=$home" "AUTHENTICATED=$IMAP_USER"
    "IMAP_CAPABILITY=$CAPABILITY" IMAP_KEYWORDS=1 IMAP_ACL=1 IMAP_USELOCKS=1
    IMAP_IDLE_TIMEOUT=5 IMAP_ENHANCEDIDLE=0 IMAP_TRASHFOLDERNAME=Trash "$IMAPD" Maildir)
  # The binary names its version ("Courier 1.0.16 (Courier-IMAP 5.0.13)/..."), installed or not.
  version=$(grep -aoE 'Courier-IMAP [0-9][0-9.]*' "$IMAPD" | head -n 1 || true)
  version=${version#Courier-IMAP }
  write_env "$dir" \
    IMAP_SERVER=courier \
    IMAP_HOST=127.0.0.1 \
    "IMAP_PORT=$port" \
    "IMAP_TLS_PORT=$tlsport" \
    "IMAP_USER=$IMAP_USER" \
    "IMAP_PASS=$IMAP_PASS" \
    "IMAP_CA=$dir/ssl/cert.pem" \
    "IMAP_PREAUTH=$(json_array "${preauth[@]}")" \
    "IMAP_VERSION=${version:-unknown}"
}

# stop_dir DIR: end the daemons, then every process left in the instance's mount namespace
# (Courier's imapd starts gam_server, which outlives the daemons).
stop_dir() {
  local dir=$1 ns pid pids=()
  end_instance "$dir" "$dir/imapd.pid" "$dir/imapd-ssl.pid" "$dir/authdaemon.pid"
  # Never sweep our own namespace, whatever the file says.
  if [[ -s $dir/mntns && $(<"$dir/mntns") != "$(readlink /proc/self/ns/mnt)" ]]; then
    ns=$(<"$dir/mntns")
    for pid in /proc/[0-9]*; do
      [[ $(readlink "$pid/ns/mnt" 2>/dev/null) == "$ns" ]] && pids+=("${pid#/proc/}")
    done
    if ((${#pids[@]})); then
      kill -TERM "${pids[@]}" 2>/dev/null || true
      sleep 0.2
      kill -KILL "${pids[@]}" 2>/dev/null || true
    fi
  fi
  rm -f "$dir/imapd.pid" "$dir/imapd-ssl.pid" "$dir/authdaemon.pid"
}

stop() {
  [[ -n ${1:-} ]] || die "the instance DIR argument is missing"
  [[ -d $1 ]] || return 0
  stop_dir "$(cd -- "$1" && pwd -P)"
}

main Courier "courier-imap is not installed" "$@"
