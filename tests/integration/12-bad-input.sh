#!/bin/sh
# Hostile and malformed requests to the consent, referral and audit
# endpoints get a clear 4xx JSON error naming the problem, and nothing
# already stored is lost or changed.
. "$(dirname "$0")/lib.sh"

check "PKI created" make_pki
write_config
check "refxd starts" start_server || { finish; exit 1; }
U="$T/pki/users"
KEYS="$T/pki/units"
DB="$T/data/refx.db"
in30=$(date -u -d '+30 days' +%F)
jq --arg d "$in30" '.valid_until = $d' "$ROOT/examples/consent.json" \
    >"$T/consent.json"
CID=$(as sara.lind --json consent record "$T/consent.json" | jq -r .id)
RID=$(as sara.lind --json referral submit "$ROOT/examples/referral-draft.json" \
    --consent "$CID" | jq -r .id)
check "a consent and a referral to protect" test -n "$RID" -a "$RID" != null
snapshot() {
	sqlite3 "$DB" "SELECT (SELECT count(*) FROM consents) || '/' ||
	    (SELECT count(*) FROM referrals) || '/' ||
	    (SELECT count(*) FROM envelopes) || '/' ||
	    (SELECT group_concat(status) FROM consents)"
}
before=$(snapshot)

post() { # post PERSON PATH BODY-FILE -> HTTP status; answer in $T/curl.out
	curl -s -o "$T/curl.out" -w '%{http_code}' --max-time 10 \
	    --cacert "$T/pki/ca.crt" --cert "$U/$1.crt" --key "$U/$1.key" \
	    -H 'Content-Type: application/json' --data-binary @"$3" "$(URL)$2"
}
expect() { # expect DESCRIPTION STATUS PATTERN PERSON PATH BODY
	printf '%s' "$6" >"$T/body"
	code=$(post "$4" "$5" "$T/body")
	if [ "$code" = "$2" ] && jq -e .error.code "$T/curl.out" \
	    >/dev/null 2>&1 && grep -q -- "$3" "$T/curl.out"; then
		ok "$1 ($code)"
	else
		not_ok "$1: got $code $(head -c 200 "$T/curl.out")"
	fi
}

expect "consent: not JSON" 400 "not JSON" sara.lind /v1/consents '{"id":'
expect "consent: an array" 400 "JSON object" sara.lind /v1/consents '[]'
expect "consent: duplicate keys" 400 "not JSON" sara.lind /v1/consents \
    '{"id":"a","id":"b"}'
expect "consent: unknown member" 400 "unknown member" sara.lind \
    /v1/consents '{"colour":"blue"}'
expect "consent: missing fields" 400 "id" sara.lind /v1/consents '{}'
expect "consent: bad id" 400 "32 lower-case hex" sara.lind /v1/consents \
    '{"id":"XYZ","valid_until":"2030-01-01"}'
expect "consent: past date" 400 "valid_until" sara.lind /v1/consents \
    '{"id":"00000000000000000000000000000001","valid_until":"2001-01-01"}'
expect "consent: by a caseworker" 403 "may not" anna.berg /v1/consents '{}'
expect "referral: not JSON" 400 "not JSON" sara.lind /v1/referrals 'nope'
expect "referral: missing manifest" 400 "manifest" sara.lind \
    /v1/referrals '{"signature":"AA=="}'
expect "referral: bad base64" 400 "base64" sara.lind /v1/referrals \
    '{"manifest":"***","signature":"AA==","certificate":"x"}'
cert=$(jq -Rs . <"$U/anna.berg.crt")
sig=$(head -c 64 /dev/zero | base64 -w0)
expect "referral: someone else's certificate" 403 "not the certificate" \
    sara.lind /v1/referrals \
    "{\"manifest\":\"e30=\",\"signature\":\"$sig\",\"certificate\":$cert,\"fields\":[],\"envelopes\":[]}"
expect "withdraw: a caseworker may not" 403 "may not" anna.berg \
    "/v1/consents/$CID/withdraw" '{}'
expect "withdraw: unknown recipient" 404 "cover" sara.lind \
    "/v1/consents/$CID/withdraw" '{"recipient":"nowhere"}'
head -c 70000 /dev/zero | tr '\0' 'x' >"$T/big"
code=$(curl -s -o "$T/curl.out" -w '%{http_code}' -H 'Expect: 100-continue' \
    --cacert "$T/pki/ca.crt" --cert "$U/sara.lind.crt" \
    --key "$U/sara.lind.key" --data-binary @"$T/big" "$(URL)/v1/referrals")
check "referral: oversized body gets 413 ($code)" test "$code" = 413
code=$(curl_as "$U/karin.ek.crt" "$U/karin.ek.key" "/v1/audit/logs/..%2fsystem")
check "audit: a traversal-looking unit is not found ($code)" test "$code" = 404
code=$(curl_as "$U/karin.ek.crt" "$U/karin.ek.key" \
    "/v1/audit/logs/ludvika-ifo-intake?from=-1&to=abc")
check "audit: malformed range is read as the defaults ($code)" test "$code" = 200

check "nothing stored was lost or changed by the bad requests" \
    test "$(snapshot)" = "$before"
as bjorn.akesson --unit-key "$KEYS/dalarna-bup.key" --json referral pull \
    "$RID" >"$T/pull.json" 2>&1
check "the referral is still readable" test "$(jq -r .id "$T/pull.json")" = "$RID"
as sara.lind consent withdraw "$CID" >/dev/null 2>&1
expect "withdraw: twice" 409 "already withdrawn" sara.lind \
    "/v1/consents/$CID/withdraw" '{}'
as bjorn.akesson --unit-key "$KEYS/dalarna-bup.key" referral pull "$RID" \
    >"$T/pull.out" 2>&1
rc=$?
check "withdrawn consent: the pull is refused with the reason (rc=$rc)" \
    sh -c "test $rc = 77 && grep -q withdrawn $T/pull.out"
# A pupil judged mature who says no: recorded, but not valid.
jq '.parties[2].decision = "no"' "$T/consent.json" >"$T/pupil-no.json"
as sara.lind --json consent record "$T/pupil-no.json" >"$T/pn.json" \
    2>"$T/pn.err"
check "a mature pupil's no makes the consent invalid" \
    sh -c "jq -e '.valid == false' $T/pn.json >/dev/null && grep -q pupil $T/pn.json"

# A supervisor's auditor sees every log's size and checkpoint, no entries.
stop_server
pki agency add ivo-tillsyn --kind supervisor --name "IVO tillsyn" >/dev/null
pki user add --agency ivo-tillsyn --role auditor --name "Sven Tillsyn" \
    --id sven.tillsyn >/dev/null
start_server >/dev/null
curl_as "$U/sven.tillsyn.crt" "$U/sven.tillsyn.key" /v1/audit/logs >/dev/null
check "the supervisor lists every unit's log" test "$(jq '[.logs[] |
    select(.unit == "dalarna-bup" or .unit == "ludvika-school-1")] | length' \
    "$T/curl.out")" = 2
code=$(curl_as "$U/sven.tillsyn.crt" "$U/sven.tillsyn.key" \
    /v1/audit/logs/ludvika-school-1)
check "...and sees its size but no entries ($code)" test "$code" = 200 -a \
    "$(jq '.entries | length' "$T/curl.out")" = 0 -a \
    "$(jq .size "$T/curl.out")" -gt 0

# An auditor countersigns a verified checkpoint; a copy of the exchange
# rolled back is then caught by anyone holding the cosigned note.
as karin.ek audit keygen "$T/witness.key" >/dev/null 2>&1
as karin.ek audit verify --state-dir "$T/st" --cosign "$T/witness.key" \
    >"$T/cos.out" 2>&1
cos=$(ls "$T"/st/*.cosigned 2>/dev/null | head -1)
check "verify --cosign writes a cosigned checkpoint" \
    test -n "$cos" -a -s "$cos"
for i in 1 2 3; do as karin.ek whoami >/dev/null 2>&1; done
as karin.ek audit verify --state-dir "$T/st2" --cosigned "$cos" \
    >"$T/cos2.out" 2>&1
check "a later, consistent log verifies against the cosigned note (rc=$?)" \
    grep -q OK "$T/cos2.out"
stop_server
finish
