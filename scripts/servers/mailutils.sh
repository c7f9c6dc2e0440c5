#!/usr/bin/env bash
# Start/stop a private GNU Mailutils imap4d instance on 127.0.0.1 whose state lives in one folder.
# usage: mailutils.sh start DIR | stop DIR | available   (see README.md in this folder)
set -euo pipefail
# shellcheck source=_common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/_common.sh"

IMAP4D=/usr/sbin/imap4d
# The virtdomain module authenticates user@domain against DIR/vdom/<domain>.
DOMAIN=localhost

available() { [[ -x $IMAP4D ]]; }

# write_config DIR PORT TLSPORT HOME: write DIR/imap4d.conf (the daemon) and DIR/preauth.conf
# (the pre-authenticated stdin/stdout session, which skips authentication).
write_config() {
  local dir=$1 port=$2 tlsport=$3 home=$4 common
  common="logging {
  syslog false;
  print-severity true;
};
mailbox {
  mailbox-type maildir;
  mailbox-pattern \"maildir://$home/Maildir\";
};
namespace personal {
  prefix \"\" {
    directory \"$home/Maildir\";
    delimiter \"/\";
    mailbox-type maildir;
  };
};
# The default checks reject a key anywhere under a world-writable folder such as /tmp.
tls-file-checks {
  key-file none;
  cert-file none;
  ca-file none;
};
tls {
  ssl-certificate-file \"$dir/ssl/cert.pem\";
  ssl-key-file \"$dir/ssl/key.pem\";
};"
  cat >"$dir/imap4d.conf" <<EOF
# Private test instance (--config-file implies --no-site-config: /etc/mailutils.conf is not read).
$common
auth {
  authentication generic;
  authorization virtdomain;
};
virtdomain {
  passwd-dir "$dir/vdom";
};
pidfile "$dir/imap4d.pid";
max-children 1000;
server 127.0.0.1:$port {
  tls-mode ondemand;
};
server 127.0.0.1:$tlsport {
  tls-mode connection;
};
EOF
  cat >"$dir/preauth.conf" <<EOF
# Pre-authenticated stdin/stdout session: run as the mail owner, no authentication.
$common
auth {
  authorization system;
};
EOF
  chmod 644 "$dir/imap4d.conf" "$dir/preauth.conf"
}

start() {
  local dir home port tlsport attempt uid gid hash preauth version
  dir=$(prepare_dir "$1")
  INSTANCE_DIR=$dir
  if [[ -s $dir/imap4d.pid ]] && grep -qsF -- "$dir/" "/proc/$(<"$dir/imap4d.pid")/cmdline"; then
    die "an instance already runs in \"$dir\": stop it first"
  fi
  test_credentials
  mkdir -p "$dir/log" "$dir/vdom"
  make_cert "$dir"
  home=$dir/home/$IMAP_USER
  make_maildir "$home/Maildir"
  # virtdomain makes a logged-in user's INBOX "<home>/INBOX" whatever mailbox-pattern says, while
  # the preauth session follows mailbox-pattern: the link makes both the same maildir.
  ln -sfn Maildir "$home/INBOX"
  # imap4d does not switch to the virtdomain user's uid (sessions run as the daemon's user, root
  # here, and create 0700 folders), so the mail tree and the preauth session are the caller's too.
  uid=$(id -u) gid=$(id -g)
  hash=$(printf '%s' "$IMAP_PASS" | openssl passwd -6 -stdin)
  printf '%s:%s:%s:%s::%s:/bin/false\n' "$IMAP_USER" "$hash" "$uid" "$gid" "$home" \
    >"$dir/vdom/$DOMAIN"
  chmod 600 "$dir/vdom/$DOMAIN"

  lock_ports
  for attempt in 1 2 3 4 5; do
    read -r port tlsport < <(pick_ports 2)
    write_config "$dir" "$port" "$tlsport" "$home"
    "$IMAP4D" --config-file="$dir/imap4d.conf" --config-lint >"$dir/log/lint.log" 2>&1 ||
      die "imap4d rejected its configuration (see $dir/log/lint.log)"
    rm -f "$dir/imap4d.pid"
    if detached "$IMAP4D" --config-file="$dir/imap4d.conf" --daemon &&
      wait_ports "$dir/imap4d.pid" "$port" "$tlsport"; then
      break
    fi
    end_instance "$dir" "$dir/imap4d.pid"
    ((attempt < 5)) || die "imap4d did not start (see $dir/log/start.log)"
  done
  unlock_ports

  preauth=(env -i PATH=/usr/sbin:/usr/bin:/bin "USER=$IMAP_USER" "HOME=$home"
    "$IMAP4D" --config-file="$dir/preauth.conf" --preauth)
  version=$("$IMAP4D" --version | sed -n 1p)
  write_env "$dir" \
    IMAP_SERVER=mailutils \
    IMAP_HOST=127.0.0.1 \
    "IMAP_PORT=$port" \
    "IMAP_TLS_PORT=$tlsport" \
    "IMAP_USER=$IMAP_USER@$DOMAIN" \
    "IMAP_PASS=$IMAP_PASS" \
    "IMAP_CA=$dir/ssl/cert.pem" \
    "IMAP_PREAUTH=$(json_array "${preauth[@]}")" \
    "IMAP_VERSION=${version##* }"
}

stop() { stop_instance "$1" imap4d.pid; }

main Mailutils "mailutils-imap4d is not installed" "$@"
