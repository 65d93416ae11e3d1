#!/bin/sh
# The bad-certificate matrix: every client without a valid certificate of
# this PKI is refused during the TLS handshake, gets no HTTP response at
# all, and no request handler runs for it.
. "$(dirname "$0")/lib.sh"

check "PKI created" make_pki
# Certificates that must not get in.
pki user add --agency dalarna-bup --role caseworker --name "Old Card" \
    --id old.card --valid-from 2020-01-01 --days 30 >/dev/null
check "expired certificate issued" test -f "$T/pki/users/old.card.crt"
pki user add --agency dalarna-bup --role caseworker --name "Future Card" \
    --id future.card --valid-from 2099-01-01 --days 30 >/dev/null
check "not-yet-valid certificate issued" test -f "$T/pki/users/future.card.crt"
pki user add --agency ludvika-ifo-intake --role caseworker \
    --name "Lost Laptop" --id lost.laptop >/dev/null
check "certificate to revoke issued" test -f "$T/pki/users/lost.laptop.crt"
# Another exchange's CA, with a person of the same name and agency.
"$PKI" -d "$T/rogue" init --name "Rogue" >/dev/null &&
"$PKI" -d "$T/rogue" agency add ludvika-ifo-intake --kind ifo \
    --name "Ludvika kommun, IFO mottagning" >/dev/null &&
"$PKI" -d "$T/rogue" user add --agency ludvika-ifo-intake \
    --role caseworker --name "Anna Berg" --id anna.berg >/dev/null
check "rogue CA and certificate created" test -f "$T/rogue/users/anna.berg.crt"

write_config
check "refxd starts" start_server || { finish; exit 1; }

U="$T/pki/users"
before=$(handled)

# refused NAME CURL-ARGS...: no HTTP status at all, and a refusal logged.
refused() {
	name=$1; shift
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
	    --cacert "$T/pki/ca.crt" "$@" "$(URL)/v1/whoami")
	if [ "$code" = "000" ]; then
		ok "$name: refused in the handshake (no HTTP response)"
	else
		not_ok "$name: got HTTP $code"
	fi
}
refused "no certificate"
refused "another CA's certificate" --cert "$T/rogue/users/anna.berg.crt" \
    --key "$T/rogue/users/anna.berg.key"
refused "expired certificate" --cert "$U/old.card.crt" --key "$U/old.card.key"
refused "not-yet-valid certificate" --cert "$U/future.card.crt" \
    --key "$U/future.card.key"
refused "server certificate used as a client" \
    --cert "$T/pki/server.crt" --key "$T/pki/server.key"
refused "TLS 1.2-only client with a valid certificate" --tls-max 1.2 \
    --cert "$U/anna.berg.crt" --key "$U/anna.berg.key"

# The reasons are in the server log (fingerprints, never keys).
check "log says why: expired" grep -q "certificate expired" "$T/refxd.log"
check "log says why: not yet valid" \
    grep -q "certificate not yet valid" "$T/refxd.log"
check "log says why: wrong CA" \
    grep -q "not issued by this exchange's CA" "$T/refxd.log"
check "log says why: wrong purpose" \
    grep -q "not for client authentication" "$T/refxd.log"
check "log records a connection that never authenticated" \
    grep -q "closed before any request" "$T/refxd.log"

# The real CLI explains the refusal and exits EX_NOPERM.
REFX_CONFIG="$T/none.ini" "$REFX" --server "$(URL)" --ca "$T/pki/ca.crt" \
    --cert "$U/old.card.crt" --key "$U/old.card.key" whoami \
    >"$T/cli.out" 2>&1
rc=$?
check "refx exits 77 for a rejected certificate (rc=$rc)" test "$rc" = 77
check "refx explains the rejection in plain words" \
    grep -qi "certificate" "$T/cli.out"
# And refuses a server that is not from our exchange's CA.
REFX_CONFIG="$T/none.ini" "$REFX" --server "$(URL)" \
    --ca "$T/rogue/ca.crt" --cert "$U/anna.berg.crt" \
    --key "$U/anna.berg.key" whoami >"$T/cli.out" 2>&1
rc=$?
check "refx refuses a server of another CA (rc=$rc)" test "$rc" = 69
check "refx says the server is not from the exchange's CA" \
    grep -qi "not from your exchange" "$T/cli.out"

after=$(handled)
check "no handler ran for any refused client ($before -> $after)" \
    test "$before" = "$after"

# Revocation: valid before, refused after refx-pki revoke + SIGHUP.
check "lost laptop works before revocation" \
    sh -c "test \"\$(curl -s -o /dev/null -w '%{http_code}' \
    --cacert $T/pki/ca.crt --cert $U/lost.laptop.crt \
    --key $U/lost.laptop.key $(URL)/v1/whoami)\" = 200"
cp "$T/pki/crl.pem" "$T/crl-before.pem"
pki revoke lost.laptop --reason keyCompromise >/dev/null
check "revoked serial is in the new CRL" \
    sh -c "openssl crl -in $T/pki/crl.pem -noout -text | grep -qi \
    \"\$(openssl x509 -in $U/lost.laptop.crt -noout -serial | cut -d= -f2)\""
chmod 644 "$T/pki/crl.pem"
kill -HUP "$SERVER_PID"
i=0
while ! grep -q "CRL reloaded" "$T/refxd.log" && [ $i -lt 50 ]; do
	sleep 0.1; i=$((i + 1))
done
check "SIGHUP reloads the CRL" grep -q "CRL reloaded" "$T/refxd.log"
before=$(handled)
refused "revoked certificate (after SIGHUP)" --cert "$U/lost.laptop.crt" \
    --key "$U/lost.laptop.key"
check "log says why: revoked" grep -q "certificate revoked" "$T/refxd.log"
check "no handler ran for the revoked client" test "$before" = "$(handled)"

# A server cannot hide the revocation from clients by going back to the
# older CRL: the CLI remembers the newest CRL number it has seen.
as anna.berg directory >"$T/dir.out" 2>&1
check "the CLI accepts the new CRL (rc=$?)" grep -q dalarna-bup "$T/dir.out"
cp "$T/crl-before.pem" "$T/pki/crl.pem"
chmod 644 "$T/pki/crl.pem"
kill -HUP "$SERVER_PID"
i=0
while [ "$(grep -c "CRL reloaded" "$T/refxd.log")" -lt 2 ] && [ $i -lt 50 ]; do
	sleep 0.1; i=$((i + 1))
done
as anna.berg directory >"$T/dir.out" 2>&1
rc=$?
check "the CLI refuses an older CRL served later (rc=$rc)" \
    sh -c "test $rc != 0 && grep -q 'older CRL' $T/dir.out"

# Others are unaffected.
code=$(curl_as "$U/anna.berg.crt" "$U/anna.berg.key" /v1/whoami)
check "a valid client still gets in after all that ($code)" test "$code" = 200

# The negotiated protocol is TLS 1.3 with an AEAD suite.
echo | openssl s_client -connect "127.0.0.1:$PORT" -servername localhost \
    -CAfile "$T/pki/ca.crt" -cert "$U/anna.berg.crt" \
    -key "$U/anna.berg.key" >"$T/sclient.out" 2>&1
check "openssl s_client negotiates TLSv1.3" \
    grep -q "TLSv1.3" "$T/sclient.out"
echo | openssl s_client -connect "127.0.0.1:$PORT" -tls1_2 \
    -CAfile "$T/pki/ca.crt" -cert "$U/anna.berg.crt" \
    -key "$U/anna.berg.key" >"$T/sclient12.out" 2>&1
rc=$?
check "openssl s_client -tls1_2 fails the handshake (rc=$rc)" \
    test "$rc" != 0 -a -n "$(grep 'Cipher is (NONE)' "$T/sclient12.out")"

stop_server
check "refxd exits 0 after the matrix" test "$SERVER_RC" = 0
finish
