#!/usr/bin/env bash
# Re-record every fixture of one server: start a private instance, run all compatibility
# scenarios through the recording proxy with our client (scripts/compat.ts --record), stop it.
# usage: record_fixtures.sh dovecot|cyrus|courier|mailutils [OUT_DIR]
#
# OUT_DIR defaults to fixtures/transcripts/<server>/. Files written there: <scenario>.imap,
# <scenario>.calls.json and compat.json (the runner's report, the source of the README matrix).
# Older recordings of the scenarios are replaced; other files (python_*) are kept. The test user
# gets a fresh random password (IMAP_PASS overrides), and the run fails if it appears in any
# written file. Environment: DENO (default: deno), IMAP_PASS.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd -- "$here/../.." && pwd -P)
server=${1:-}
case $server in
  dovecot | cyrus | courier | mailutils) ;;
  *)
    echo "usage: ${0##*/} dovecot|cyrus|courier|mailutils [OUT_DIR]" >&2
    exit 2
    ;;
esac
out=${2:-$repo/fixtures/transcripts/$server}
deno=${DENO:-deno}

bash "$here/$server.sh" available || {
  echo "${0##*/}: $server is not installed (see scripts/servers/README.md)" >&2
  exit 1
}

# A password that cannot be mistaken for anything else in a transcript.
IMAP_PASS=${IMAP_PASS:-s3cret-$(openssl rand -hex 8)}
export IMAP_PASS
dir=$(mktemp -d "${TMPDIR:-/tmp}/imaptest-record-$server.XXXXXX")
cleanup() {
  bash "$here/$server.sh" stop "$dir" || true
  rm -rf -- "$dir"
}
trap cleanup EXIT

bash "$here/$server.sh" start "$dir" >/dev/null

mkdir -p "$out"
for calls in "$out"/*.calls.json; do
  [[ -e $calls ]] || continue
  rm -f -- "$calls" "${calls%.calls.json}.imap"
done

status=0
"$deno" run --allow-all "$repo/scripts/compat.ts" --env "$dir/env" --scenarios all \
  --record "$out" --json >"$out/compat.json.tmp" || status=$?
mv -f -- "$out/compat.json.tmp" "$out/compat.json"

if grep -rqF -- "$IMAP_PASS" "$out"; then
  echo "${0##*/}: the password appears in $out: do not commit these files" >&2
  exit 1
fi
if ((status != 0)); then
  echo "${0##*/}: the client failed in some scenario (see FAIL rows in $out/compat.json)" >&2
  exit "$status"
fi
echo "recorded $(ls "$out"/*.calls.json | wc -l) scenarios of $server into $out"
