#!/bin/sh
# Each enrolled person connects with their own certificate and the
# server reports exactly the agency, kind, role and person in it.
. "$(dirname "$0")/lib.sh"

check "PKI created" make_pki
write_config
check "refxd starts" start_server || { finish; exit 1; }

whoami_is() {
	who=$1 agency=$2 kind=$3 role=$4
	out=$(as "$who" --json whoami) || return 1
	echo "$out" | grep -q "\"agency\": *\"$agency\"" &&
	echo "$out" | grep -q "\"kind\": *\"$kind\"" &&
	echo "$out" | grep -q "\"role\": *\"$role\"" &&
	echo "$out" | grep -q "\"person\": *\"$who\"" &&
	echo "$out" | grep -q "\"tls_version\": *\"TLS1.3\""
}
check "school submitter sees own agency and role" \
    whoami_is sara.lind ludvika-school-1 school submitter
check "IFO caseworker sees own agency and role" \
    whoami_is anna.berg ludvika-ifo-intake ifo caseworker
check "BUP caseworker sees own agency and role" \
    whoami_is bjorn.akesson dalarna-bup bup caseworker
check "auditor sees own agency and role" \
    whoami_is karin.ek ludvika-ifo-intake ifo auditor

# The fingerprint the server reports is the SHA-256 of our certificate.
fp=$(openssl x509 -in "$T/pki/users/anna.berg.crt" -outform der |
    sha256sum | cut -d' ' -f1)
out=$(as anna.berg --json whoami)
case "$out" in
*"$fp"*) ok "server reports the certificate's SHA-256 fingerprint" ;;
*) not_ok "server reports the certificate's SHA-256 fingerprint: $out" ;;
esac

# Human output names the person (UTF-8 intact).
out=$(as bjorn.akesson whoami)
case "$out" in
*"Björn Åkesson (bjorn.akesson)"*) ok "human whoami prints name and id" ;;
*) not_ok "human whoami prints name and id: $out" ;;
esac

# The ready-made client config refx-pki writes works as is.
out=$(REFX_CONFIG="$T/pki/users/sara.lind.ini" "$REFX" --server "$(URL)" \
    --json whoami)
case "$out" in
*ludvika-school-1*) ok "refx-pki's client config works" ;;
*) not_ok "refx-pki's client config works: $out" ;;
esac

# Health and directory.
out=$(as karin.ek --json health)
case "$out" in
*'"status": "ok"'*|*'"status":"ok"'*) ok "health is ok" ;;
*) not_ok "health is ok: $out" ;;
esac
code=$(curl_as "$T/pki/users/anna.berg.crt" "$T/pki/users/anna.berg.key" \
    /v1/directory)
n=$(grep -o '"id":"[a-z0-9-]*"' "$T/curl.out" | sort | tr '\n' ' ')
check "directory lists the three units ($n)" test "$code" = 200 -a \
    "$n" = '"id":"dalarna-bup" "id":"ludvika-ifo-intake" "id":"ludvika-school-1" '
grep -o '"certificate":"-----BEGIN CERTIFICATE-----[^"]*' "$T/curl.out" |
    head -1 | sed 's/^"certificate":"//; s/\\n/\n/g' >"$T/unit.pem"
check "directory certificates verify against the CA" \
    sh -c "openssl verify -CAfile $T/pki/ca.crt $T/unit.pem >/dev/null"

# Unknown paths and methods get JSON errors, not HTML.
code=$(curl_as "$T/pki/users/anna.berg.crt" "$T/pki/users/anna.berg.key" \
    /v1/nothing)
check "unknown path is 404 with a JSON error" test "$code" = 404 -a \
    -n "$(grep '"code":"not_found"' "$T/curl.out")"
code=$(curl_as "$T/pki/users/anna.berg.crt" "$T/pki/users/anna.berg.key" \
    /v1/whoami -X DELETE)
check "wrong method is 405" test "$code" = 405
code=$(curl_as "$T/pki/users/anna.berg.crt" "$T/pki/users/anna.berg.key" \
    "/v1/../v1/whoami" --path-as-is)
check "path traversal does not reach a handler ($code)" test "$code" = 404

# refx-pki list shows what was issued.
pki list >"$T/list.out" 2>&1
check "refx-pki list shows people and units" \
    sh -c "grep -q anna.berg $T/list.out && grep -q dalarna-bup $T/list.out"

# A passphrase-protected person key works with its passphrase only.
printf 'hemligt lösenord\n' >"$T/pp"
chmod 600 "$T/pp"
pki user add --agency dalarna-bup --role caseworker --name "Pia Pass" \
    --id pia.pass --passphrase-file "$T/pp" >/dev/null
check "the protected key file is encrypted" \
    grep -q "ENCRYPTED PRIVATE KEY" "$T/pki/users/pia.pass.key"
as pia.pass --passphrase-file "$T/pp" whoami >"$T/pp.out" 2>&1
check "whoami with the key's passphrase" grep -q pia.pass "$T/pp.out"
as pia.pass whoami >"$T/pp.out" 2>&1
rc=$?
check "without the passphrase: exit 78 (rc=$rc)" test "$rc" = 78

# --help everywhere, and an unreachable server explained.
helps=0
for c in whoami health directory "policy show" "consent record" \
    "consent list" "consent show" "consent withdraw" "referral submit" \
    "referral list" "referral pull" "referral receipts" "key protect" \
    "audit list" "audit export" "audit verify" "audit keygen"; do
	# shellcheck disable=SC2086
	"$REFX" $c --help >/dev/null 2>&1 || { helps=1; diag "no --help: $c"; }
done
check "every command answers --help" test "$helps" = 0
"$PKI" --help >/dev/null 2>&1 && "$REFXD" --help >/dev/null 2>&1
check "refx-pki and refxd answer --help" test $? -le 64
REFX_CONFIG="$T/none.ini" "$REFX" --server https://127.0.0.1:9 \
    --ca "$T/pki/ca.crt" --cert "$T/pki/users/anna.berg.crt" \
    --key "$T/pki/users/anna.berg.key" whoami >"$T/un.out" 2>&1
rc=$?
check "an unreachable server: exit 69, said so (rc=$rc)" \
    sh -c "test $rc = 69 && grep -qi unreachable $T/un.out"

stop_server
check "SIGTERM stops refxd with exit 0" test "$SERVER_RC" = 0
check "refxd logged its stop" grep -q "stopped" "$T/refxd.log"
finish
