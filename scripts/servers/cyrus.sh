#!/usr/bin/env bash
# Start/stop a private Cyrus IMAP instance on 127.0.0.1 whose state lives in one folder.
# usage: cyrus.sh start DIR | stop DIR | available   (see README.md in this folder)
# Needs the Debian packages cyrus-imapd and sasl2-bin (they conflict with dovecot-imapd).
# Tested as root beside Dovecot and Mailutils, with cyrus-imapd unpacked (see README.md).
set -euo pipefail
# shellcheck source=_common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/_common.sh"

CYRUS_BIN=/usr/lib/cyrus/bin
SASLPASSWD2=/usr/sbin/saslpasswd2
# imapd comes from cyrus-imapd, which conflicts with dovecot-imapd: beside Dovecot it can be
# unpacked (dpkg -x) under $IMAPTEST_EXTRACTED/cyrus-imapd instead (see README.md).
EXTRACTED=${IMAPTEST_EXTRACTED:-/opt/imaptest}/cyrus-imapd$CYRUS_BIN
if [[ -x $CYRUS_BIN/imapd ]]; then IMAPD_DIR=$CYRUS_BIN; else IMAPD_DIR=$EXTRACTED; fi
# The SASL realm must equal servername.
SERVERNAME=localhost

available() { [[ -x $CYRUS_BIN/master && -x $IMAPD_DIR/imapd && -x $SASLPASSWD2 ]]; }

# write_config DIR PORT TLSPORT CYRUSUSER: write DIR/imapd.conf and DIR/cyrus.conf. Every cmd
# gets its own -C so nothing falls back to /etc/imapd.conf.
write_config() {
  local dir=$1 port=$2 tlsport=$3 cyrus_user=$4 folder conf
  conf=$dir/imapd.conf
  cat >"$conf" <<EOF
# Private test instance: /etc/imapd.conf and /etc/cyrus.conf are not read.
configdirectory: $dir/lib
partition-default: $dir/spool
proc_path: $dir/run/proc
mboxname_lockpath: $dir/run/lock
lmtpsocket: $dir/socket/lmtp
idlesocket: $dir/socket/idle
notifysocket: $dir/socket/notify
sievedir: $dir/sieve
syslog_prefix: imaptest-$port
servername: $SERVERNAME
cyrus_user: $cyrus_user
altnamespace: yes
unixhierarchysep: yes
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: $dir/sasldb2
sasl_mech_list: PLAIN LOGIN
autocreate_quota: 0
# IDLE polls the mailbox every second (no idled daemon runs in a private instance).
imapidlepoll: 1
autocreate_post: yes
autocreate_inbox_folders: Drafts|Sent|Trash|Junk|Archive
autocreate_subscribe_folders: Drafts|Sent|Trash|Junk|Archive
tls_server_cert: $dir/ssl/cert.pem
tls_server_key: $dir/ssl/key.pem
EOF
  for folder in Drafts Sent Trash Junk Archive; do
    printf 'xlist-%s: %s\n' "${folder,,}" "$folder" >>"$conf"
  done
  cat >"$dir/cyrus.conf" <<EOF
START {
  recover cmd="$CYRUS_BIN/ctl_cyrusdb -C $conf -r"
}
SERVICES {
  imap cmd="$IMAPD_DIR/imapd -C $conf" listen="127.0.0.1:$port" prefork=0
  imaps cmd="$IMAPD_DIR/imapd -C $conf -s" listen="127.0.0.1:$tlsport" prefork=0
  lmtpunix cmd="$CYRUS_BIN/lmtpd -C $conf" listen="$dir/socket/lmtp" prefork=0
}
EVENTS {
  checkpoint cmd="$CYRUS_BIN/ctl_cyrusdb -C $conf -c" period=30
}
EOF
  chmod 644 "$conf" "$dir/cyrus.conf"
}

# login_once PORT: log the test user in and out once over plain IMAP, which creates the INBOX
# (autocreate), and print the greeting.
login_once() {
  local port=$1 greeting line
  exec {imap}<>"/dev/tcp/127.0.0.1/$port" || return 1
  IFS= read -r -t 5 greeting <&"$imap" || return 1
  printf 'a LOGIN %s %s\r\nb LOGOUT\r\n' "$IMAP_USER" "$IMAP_PASS" >&"$imap"
  while IFS= read -r -t 5 line <&"$imap"; do
    [[ $line == "a OK"* ]] && continue
    [[ $line == "a "* ]] && {
      exec {imap}>&-
      printf 'login failed: %s\n' "$line" >&2
      return 1
    }
    [[ $line == "b "* ]] && break
  done
  exec {imap}>&-
  printf '%s\n' "$greeting"
}

start() {
  local dir port tlsport attempt cyrus_user greeting version
  dir=$(prepare_dir "$1")
  INSTANCE_DIR=$dir
  if [[ -s $dir/master.pid ]] && grep -qsF -- "$dir/" "/proc/$(<"$dir/master.pid")/cmdline"; then
    die "an instance already runs in \"$dir\": stop it first"
  fi
  test_credentials
  mkdir -p "$dir/log" "$dir/lib" "$dir/spool" "$dir/run/proc" "$dir/run/lock" "$dir/socket" \
    "$dir/sieve"
  make_cert "$dir"
  printf '%s' "$IMAP_PASS" | "$SASLPASSWD2" -p -c -f "$dir/sasldb2" -u "$SERVERNAME" "$IMAP_USER" ||
    die "saslpasswd2 could not create the test user"
  if is_root; then cyrus_user=cyrus; else cyrus_user=$(id -un); fi

  lock_ports
  for attempt in 1 2 3 4 5; do
    read -r port tlsport < <(pick_ports 2)
    write_config "$dir" "$port" "$tlsport" "$cyrus_user"
    # As root the master runs as user cyrus: it must own the state (key and sasldb included).
    if is_root; then chown -R "$cyrus_user" "$dir/lib" "$dir/spool" "$dir/run" "$dir/socket" \
      "$dir/sieve" "$dir/log" "$dir/ssl" "$dir/sasldb2"; fi
    rm -f "$dir/master.pid"
    if detached "$CYRUS_BIN/master" -C "$dir/imapd.conf" -M "$dir/cyrus.conf" \
      -p "$dir/master.pid" -d -L "$dir/log/master.log" &&
      wait_ports "$dir/master.pid" "$port" "$tlsport"; then
      break
    fi
    end_instance "$dir" "$dir/master.pid"
    ((attempt < 5)) || die "cyrus did not start (see $dir/log/start.log and $dir/log/master.log)"
  done
  unlock_ports

  greeting=$(login_once "$port") || die "the test user could not log in to cyrus on port $port"
  version=$(grep -o 'Cyrus IMAP [^ ]*' <<<"$greeting" || true)
  version=${version#Cyrus IMAP }
  version=${version%%-*}
  write_env "$dir" \
    IMAP_SERVER=cyrus \
    IMAP_HOST=127.0.0.1 \
    "IMAP_PORT=$port" \
    "IMAP_TLS_PORT=$tlsport" \
    "IMAP_USER=$IMAP_USER" \
    "IMAP_PASS=$IMAP_PASS" \
    "IMAP_CA=$dir/ssl/cert.pem" \
    "IMAP_PREAUTH=" \
    "IMAP_VERSION=${version:-unknown}"
}

stop() { stop_instance "$1" master.pid; }

main Cyrus "cyrus-imapd or sasl2-bin is not installed" "$@"
