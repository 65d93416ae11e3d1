#!/bin/sh
# Bounds: oversized bodies get 413 (early when Content-Length shows it,
# as they stream otherwise), oversized headers 431, and the server keeps
# serving everyone afterwards.
. "$(dirname "$0")/lib.sh"

check "PKI created" make_pki
write_config
check "refxd starts" start_server || { finish; exit 1; }
C="$T/pki/users/anna.berg.crt"
K="$T/pki/users/anna.berg.key"

# 1 MiB against a 64 KiB cap.
head -c 1048576 /dev/zero | tr '\0' 'a' >"$T/big"
# With Expect: 100-continue the client waits for the verdict on the
# headers: the 413 arrives before a byte of the body is sent.
code=$(curl_as "$C" "$K" /v1/whoami -X POST -H 'Content-Type: application/json' \
    -H 'Expect: 100-continue' --data-binary @"$T/big")
check "oversized body with Content-Length: 413 before the body ($code)" \
    test "$code" = 413
# Without it the client may still be sending when the server has
# answered and closed: it sees the 413 or a reset, never a 2xx.
code=$(curl_as "$C" "$K" /v1/whoami -X POST -H 'Content-Type: application/json' \
    -H 'Expect:' --data-binary @"$T/big")
case "$code" in
413|000) ok "oversized body without Expect refused ($code)" ;;
*) not_ok "oversized body without Expect refused: got $code" ;;
esac
code=$(curl_as "$C" "$K" /v1/whoami -X POST -H 'Transfer-Encoding: chunked' \
    -H 'Content-Type: application/json' --data-binary @"$T/big")
case "$code" in
413|000) ok "oversized chunked body refused ($code)" ;;
*) not_ok "oversized chunked body refused: got $code" ;;
esac
check "413 body is a JSON error" grep -q '"code":"too_large"' "$T/curl.out"

code=$(curl_as "$C" "$K" /v1/whoami -H "X-Pad: $(head -c 40000 /dev/zero |
    tr '\0' 'b')")
check "oversized header: 431 ($code)" test "$code" = 431

code=$(curl_as "$C" "$K" /v1/whoami)
check "server still serves after the oversized requests ($code)" \
    test "$code" = 200

# Many requests on one keep-alive connection, then in parallel.
urls=""
for i in 1 2 3 4 5 6 7 8 9 10; do urls="$urls $(URL)/v1/whoami"; done
# shellcheck disable=SC2086
n=$(curl -s --cacert "$T/pki/ca.crt" --cert "$C" --key "$K" $urls |
    grep -o '"agency"' | wc -l)
check "ten requests on one connection all answered ($n)" test "$n" = 10
pids=""
for i in 1 2 3 4 5 6 7 8; do
	curl -s -o "$T/par.$i" --max-time 10 --cacert "$T/pki/ca.crt" \
	    --cert "$C" --key "$K" "$(URL)/v1/whoami" &
	pids="$pids $!"
done
# shellcheck disable=SC2086
wait $pids
n=$(cat "$T"/par.* | grep -o '"agency"' | wc -l)
check "eight parallel clients all answered ($n)" test "$n" = 8

out=$(as anna.berg --json health)
check "health still ok" sh -c "echo '$out' | grep -q ok"
stop_server
check "refxd exits 0" test "$SERVER_RC" = 0

# Per-IP connection limit: with 2 allowed, a third connection is refused
# while two are held open, and admitted once they close.
sed -i 's/^connections_per_ip = .*/connections_per_ip = 2/' "$T/refxd.ini"
check "refxd restarts with 2 connections per IP" start_server
holders=""
for i in 1 2; do
	( sleep 4 ) | openssl s_client -quiet -connect "127.0.0.1:$PORT" \
	    -CAfile "$T/pki/ca.crt" -cert "$C" -key "$K" >/dev/null 2>&1 &
	holders="$holders $!"
done
sleep 1
code=$(curl_as "$C" "$K" /v1/whoami)
check "a third connection from the same IP is refused ($code)" \
    test "$code" = 000
# shellcheck disable=SC2086
wait $holders
code=$(curl_as "$C" "$K" /v1/whoami)
check "admitted again once the others closed ($code)" test "$code" = 200
stop_server

# Idle timeout: a connection that says nothing is closed by the server.
sed -i 's/^idle_timeout = .*/idle_timeout = 2/' "$T/refxd.ini"
check "refxd restarts with a 2 s idle timeout" start_server
( sleep 10 ) | timeout 8 openssl s_client -quiet -connect "127.0.0.1:$PORT" \
    -CAfile "$T/pki/ca.crt" -cert "$C" -key "$K" >/dev/null 2>&1
rc=$?
check "an idle connection is closed by the server, not by our timeout (rc=$rc)" \
    test "$rc" != 124
stop_server
finish
