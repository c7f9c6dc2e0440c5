#!/usr/bin/env bash
# Start/stop a private Dovecot IMAP instance on 127.0.0.1 whose state lives in one folder.
# usage: dovecot.sh start DIR | stop DIR | available   (see README.md in this folder)
set -euo pipefail
# shellcheck source=_common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/_common.sh"

DOVECOT=/usr/sbin/dovecot
IMAP_BIN=/usr/lib/dovecot/imap

available() { [[ -x $DOVECOT && -x $IMAP_BIN ]]; }

# write_config DIR PORT TLSPORT: write DIR/dovecot.conf (the daemon), DIR/mail.conf (users and
# mail store, shared with the preauth session) and DIR/preauth.conf.
write_config() {
  local dir=$1 port=$2 tlsport=$3 rootless=''
  if ! is_root; then
    # Without root everything runs as the caller: no privileged users, no chroot.
    rootless="default_login_user = $(id -un)
default_internal_user = $(id -un)
default_internal_group = $(id -gn)
service anvil {
  chroot =
}
service imap-login {
  chroot =
}"
  fi
  cat >"$dir/mail.conf" <<EOF
# Users and mail store of this instance (read by dovecot.conf and preauth.conf).
mail_location = maildir:~/Maildir:LAYOUT=fs
mail_privileged_group =
mail_max_userip_connections = 1000
first_valid_uid = 1
passdb {
  driver = passwd-file
  args = $dir/users
}
userdb {
  driver = passwd-file
  args = $dir/users
}
namespace inbox {
  inbox = yes
  separator = /
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \\Trash
    auto = subscribe
  }
  mailbox Junk {
    special_use = \\Junk
    auto = subscribe
  }
  mailbox Archive {
    special_use = \\Archive
    auto = subscribe
  }
}
EOF
  cat >"$dir/dovecot.conf" <<EOF
# Private test instance: nothing under /etc/dovecot is read.
base_dir = $dir/run
state_dir = $dir/state
instance_name = imaptest-$port
log_path = $dir/log/dovecot.log
info_log_path = $dir/log/dovecot.log
protocols = imap
listen = 127.0.0.1
login_greeting = Dovecot test server ready.
ssl = yes
ssl_cert = <$dir/ssl/cert.pem
ssl_key = <$dir/ssl/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
# Failed-login tests should not wait the default 2 s.
auth_failure_delay = 0
# No anvil auth penalty (the auth process cannot reach its socket): after one failed login the
# next login from 127.0.0.1 would otherwise wait 4 s, and longer after more failures.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
# No stats process: its writer handshake can stall shutdown for 5 s.
stats_writer_socket_path =
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $tlsport
    ssl = yes
  }
}
$rootless
!include $dir/mail.conf
EOF
  cat >"$dir/preauth.conf" <<EOF
# Config of the pre-authenticated stdin/stdout session (no daemon involved).
base_dir = $dir/run-preauth
log_path = $dir/log/preauth.log
protocols = imap
ssl = no
!include $dir/mail.conf
EOF
  chmod 644 "$dir/mail.conf" "$dir/dovecot.conf" "$dir/preauth.conf"
}

start() {
  local dir user_home port tlsport attempt uid gid preauth version
  dir=$(prepare_dir "$1")
  INSTANCE_DIR=$dir
  [[ ! -s $dir/run/master.pid ]] || ! grep -qsF -- "$dir/" "/proc/$(<"$dir/run/master.pid")/cmdline" ||
    die "an instance already runs in \"$dir\": stop it first"
  test_credentials
  mkdir -p "$dir/log" "$dir/run" "$dir/state" "$dir/run-preauth"
  make_cert "$dir"
  user_home=$dir/home/$IMAP_USER
  make_maildir "$user_home/Maildir"
  if is_root; then uid=$MAIL_UID gid=$MAIL_GID; else uid=$(id -u) gid=$(id -g); fi
  own_mail "$dir/home" "$dir/run-preauth"
  printf '%s:{PLAIN}%s:%s:%s::%s::\n' "$IMAP_USER" "$IMAP_PASS" "$uid" "$gid" "$user_home" \
    >"$dir/users"
  # The auth process (user dovecot) reads it through the master; keep the password private.
  chmod 600 "$dir/users"
  if is_root; then chown dovecot "$dir/users" 2>/dev/null || true; fi

  lock_ports
  for attempt in 1 2 3 4 5; do
    read -r port tlsport < <(pick_ports 2)
    write_config "$dir" "$port" "$tlsport"
    rm -f "$dir/run/master.pid"
    if detached "$DOVECOT" -c "$dir/dovecot.conf" &&
      wait_ports "$dir/run/master.pid" "$port" "$tlsport"; then
      break
    fi
    end_instance "$dir" "$dir/run/master.pid"
    ((attempt < 5)) || die "dovecot did not start (see $dir/log/start.log and $dir/log/dovecot.log)"
  done
  unlock_ports

  if is_root; then
    preauth=(setpriv "--reuid=$MAIL_UID" "--regid=$MAIL_GID" --clear-groups)
  else
    preauth=()
  fi
  preauth+=(env -i PATH=/usr/sbin:/usr/bin:/bin "USER=$IMAP_USER" "HOME=$user_home"
    "$IMAP_BIN" -c "$dir/preauth.conf")
  version=$("$DOVECOT" --version)
  write_env "$dir" \
    IMAP_SERVER=dovecot \
    IMAP_HOST=127.0.0.1 \
    "IMAP_PORT=$port" \
    "IMAP_TLS_PORT=$tlsport" \
    "IMAP_USER=$IMAP_USER" \
    "IMAP_PASS=$IMAP_PASS" \
    "IMAP_CA=$dir/ssl/cert.pem" \
    "IMAP_PREAUTH=$(json_array "${preauth[@]}")" \
    "IMAP_VERSION=${version%% *}"
}

stop() { stop_instance "$1" run/master.pid; }

main Dovecot "dovecot-imapd is not installed" "$@"
