#!/bin/sh
# Generates the TLS fixtures used by the transport tests, into fixtures/certs/ (or $1).
#
#   ca.pem / ca.key                  the test CA the tests trust (via caCerts / ca)
#   server.pem / server.key          signed by it: CN=localhost, SAN DNS:localhost, IP:127.0.0.1
#   wrong_host.pem / wrong_host.key  signed by it: CN=wrong.example, SAN DNS:wrong.example only
#   unknown_ca.pem / unknown_ca.key  a second, unrelated CA, for "unknown CA" tests
#   unknown_server.pem / .key        CN=localhost (right name), signed by the unrelated CA
#
# Everything is valid for 20 years so the fixtures can be committed. Needs OpenSSL >= 1.1.1.
# Usage: sh scripts/gen_test_certs.sh [output-dir]
set -eu

out="${1:-$(dirname "$0")/../fixtures/certs}"
mkdir -p "$out"
# Valid from a fixed past date (a clock running a little behind must not see "not yet valid")
# until 20 years from now.
start=20240101000000Z
end="$(($(date -u +%Y) + 20))$(date -u +%m%d)000000Z"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
: > "$work/index.txt"
cat > "$work/ca.cnf" <<CNF
[ca]
default_ca = test_ca
[test_ca]
database = $work/index.txt
new_certs_dir = $work
serial = $work/serial
default_md = sha256
policy = any_name
unique_subject = no
[any_name]
commonName = supplied
CNF

# sign NAME EXTENSIONS [ISSUER]: signs NAME's request with ISSUER's key (self-signed without).
sign() {
  printf '%s\n' "$2" > "$work/$1.ext"
  if [ -z "${3:-}" ]; then
    set -- "$1" "$2" -selfsign -keyfile "$out/$1.key"
  else
    set -- "$1" "$2" -cert "$out/$3.pem" -keyfile "$out/$3.key"
  fi
  name="$1"
  shift 2
  openssl ca -batch -config "$work/ca.cnf" -notext -rand_serial "$@" \
    -startdate "$start" -enddate "$end" -extfile "$work/$name.ext" \
    -in "$work/$name.csr" -out "$out/$name.pem" 2>"$work/$name.log" || {
    cat "$work/$name.log" >&2
    exit 1
  }
}

# request NAME CN: a new RSA key and a certificate request for it.
request() {
  openssl req -new -newkey rsa:2048 -nodes -keyout "$out/$1.key" -out "$work/$1.csr" \
    -subj "/CN=$2" 2>/dev/null
}

# make_ca NAME CN: a self-signed CA allowed to sign server certificates.
make_ca() {
  request "$1" "$2"
  sign "$1" "basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash"
}

# make_leaf NAME CA CN SAN: a server certificate signed by CA.
make_leaf() {
  request "$1" "$3"
  sign "$1" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$4
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid" "$2"
}

make_ca ca "imaplib-ts test CA"
make_ca unknown_ca "imaplib-ts unrelated CA"
make_leaf server ca localhost "DNS:localhost,IP:127.0.0.1"
make_leaf wrong_host ca wrong.example "DNS:wrong.example"
make_leaf unknown_server unknown_ca localhost "DNS:localhost,IP:127.0.0.1"

# Test keys, not secrets: readable so servers running as another user (e.g. nobody) can load them.
chmod 644 "$out"/*.key

for c in server wrong_host unknown_server; do
  openssl x509 -in "$out/$c.pem" -noout -subject -issuer -startdate -enddate
done
