#!/bin/sh
# Verifies a tsunagi deletion certificate offline with jq and OpenSSL 3:
#   verify-certificate.sh certificate.json signing-keys.json
# signing-keys.json is the answer of GET /api/v1/signing-keys (either
# listener, no sign-in needed). docs/operations.md shows the same steps.
set -eu
cert=$1 keys=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# The signed bytes: the certificate without its signature member, compact.
jq -cj 'del(.signature)' "$cert" >"$dir/signed"
jq -r '.signature.sig' "$cert" | base64 -d >"$dir/sig"
id=$(jq -r '.signature.key_id' "$cert")
# The Ed25519 public key, behind its fixed 12-byte DER header
# (30 2a 30 05 06 03 2b 65 70 03 21 00).
{
	printf '\060\052\060\005\006\003\053\145\160\003\041\000'
	jq -r --arg id "$id" '.items[] | select(.id == $id) | .public_key' "$keys" | base64 -d
} >"$dir/pub.der"
openssl pkey -pubin -inform DER -in "$dir/pub.der" -out "$dir/pub.pem"
openssl pkeyutl -verify -pubin -inkey "$dir/pub.pem" -rawin -in "$dir/signed" -sigfile "$dir/sig"
