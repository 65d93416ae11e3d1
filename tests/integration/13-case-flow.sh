#!/bin/sh
# The closed loop of a referral: every step allowed only to the right role
# and unit, signed by its author, chained, audited; messages sealed to the
# two units of the loop; what the school is told follows the policy and
# the consent; follow-up due dates and the overdue list under a fake clock.
. "$(dirname "$0")/lib.sh"

check "PKI created" make_pki
pki user add --agency ludvika-school-1 --role auditor --name "Olle Revisor" \
    --id olle.revisor >/dev/null
pki user add --agency ludvika-school-1 --role submitter --name "Per Rektor" \
    --id per.rektor >/dev/null
pki agency add ludvika-school-2 --kind school --name "Ludvika kommun, Region" \
    >/dev/null
pki user add --agency ludvika-school-2 --role submitter --name "Eva Annan" \
    --id eva.annan >/dev/null
pki user add --agency dalarna-bup --role auditor --name "Bo Granskare" \
    --id bo.granskare >/dev/null
write_config
check "refxd starts" start_server || { finish; exit 1; }
KEYS="$T/pki/units"
DB="$T/data/refx.db"
in30=$(date -u -d '+30 days' +%F)

# A consent that lets IFO answer the school in full, BUP not.
jq --arg d "$in30" '.valid_until = $d | .recipients[0].feedback = true' \
    "$ROOT/examples/consent.json" >"$T/consent.json"
as sara.lind --json consent record "$T/consent.json" >"$T/c.out" 2>&1
CID=$(jq -r .id "$T/c.out")
check "consent with an IFO feedback permission recorded" \
    test -n "$CID" -a "$CID" != null
as sara.lind --unit-key "$KEYS/ludvika-school-1.key" consent show "$CID" \
    >"$T/cshow.out" 2>&1
check "consent show tells who may answer the school in full" \
    sh -c "grep -q 'answer to the school: in full' '$T/cshow.out' &&
        grep -q 'answer to the school: outcome only' '$T/cshow.out'"

submit() {
	as sara.lind --json referral submit "$ROOT/examples/referral-draft.json" \
	    --consent "$CID" 2>"$T/submit.err" | jq -r .id
}
RID=$(submit)
check "referral submitted ($RID)" test -n "$RID" -a "$RID" != null

school() { as sara.lind --unit-key "$KEYS/ludvika-school-1.key" "$@"; }
ifo() { as anna.berg --unit-key "$KEYS/ludvika-ifo-intake.key" "$@"; }
bup() { as bjorn.akesson --unit-key "$KEYS/dalarna-bup.key" "$@"; }
state() {
	sqlite3 "$DB" "SELECT state FROM referral_recipients WHERE
	    referral_id = '$1' AND recipient = '$2'"
}

# Submitted: both loops start, the school sees both.
school --json case status "$RID" >"$T/s0.json" 2>&1
check "the school sees both loops, submitted" \
    test "$(jq -r '[.tracks[].state] | join(",")' "$T/s0.json")" = \
    "submitted,submitted"
check "status says every step verified" \
    test "$(jq -r .verified "$T/s0.json")" = true

# Nothing can be accepted before it is received (pulled).
ifo case accept "$RID" >"$T/a0.out" 2>&1
check "accept before the pull is refused (409)" \
    sh -c "test $? -ne 0 && grep -q 'cannot be accepted now' '$T/a0.out'"
ifo referral pull "$RID" >/dev/null 2>&1
check "the first pull by IFO marks its loop received" \
    test "$(state "$RID" ludvika-ifo-intake)" = received
check "BUP's loop is untouched" \
    test "$(state "$RID" dalarna-bup)" = submitted

# Roles and units: only IFO's caseworkers act on IFO's loop.
school case accept "$RID" >"$T/r1.out" 2>&1
check "a school submitter cannot accept" \
    sh -c "test $? -ne 0 && grep -q 'not one of its recipients' '$T/r1.out'"
as karin.ek case accept "$RID" >"$T/r2.out" 2>&1
check "an auditor cannot accept" test $? -ne 0
bup case accept "$RID" >"$T/r3.out" 2>&1
check "BUP cannot accept before its own pull" \
    sh -c "test $? -ne 0 && test \"\$(sqlite3 '$DB' \"SELECT state FROM
        referral_recipients WHERE referral_id = '$RID' AND
        recipient = 'dalarna-bup'\")\" = submitted"
as eva.annan case status "$RID" >"$T/r4.out" 2>&1
check "another school sees no such case (404)" \
    sh -c "test $? -ne 0 && grep -q 'no case' '$T/r4.out'"
ifo case follow-up "$RID" >"$T/r5.out" 2>&1
check "a caseworker cannot report the follow-up" test $? -ne 0
ifo case cancel "$RID" >"$T/r6.out" 2>&1
check "a caseworker cannot cancel" test $? -ne 0

# IFO accepts; the step is signed and chained.
ifo case accept "$RID" >"$T/a1.out" 2>&1
check "IFO accepts" \
    sh -c "test $? -eq 0 && grep -q 'is now accepted' '$T/a1.out'"
check "the accept is stored with its statement and signature" \
    test "$(sqlite3 "$DB" "SELECT count(*) FROM case_events WHERE
    referral_id = '$RID' AND event = 'accepted' AND statement IS NOT NULL
    AND signature IS NOT NULL")" = 1
ifo case accept "$RID" >"$T/a2.out" 2>&1
check "accepting twice is refused" test $? -ne 0

# The answer to the school: outcome codes from the policy only.
ifo case advise "$RID" --outcome diagnosis-set >"$T/o1.out" 2>&1
check "an outcome the policy does not list is refused" \
    sh -c "test $? -ne 0 && grep -q 'not an outcome the policy' '$T/o1.out'"
ifo case advise "$RID" --outcome investigation-opened \
    --message "Utredning inledd. Förslag: anpassad skoldag och samtal med familjen." \
    >"$T/o2.out" 2>&1
check "IFO advises, with a message the consent allows" \
    sh -c "test $? -eq 0 && grep -q 'follow-up report is due by' '$T/o2.out'"
due=$(sqlite3 "$DB" "SELECT follow_up_due FROM referral_recipients WHERE
    referral_id = '$RID' AND recipient = 'ludvika-ifo-intake'")
check "the follow-up is due 12 months after the advice ($due)" \
    test "$due" = "$(date -u -d '+12 months' +%F)"
check "the advice is stored as ciphertext only" \
    sh -c "! sqlite3 '$DB' .dump | grep -q 'anpassad skoldag'"

school --json case status "$RID" >"$T/s1.json" 2>&1
check "the school reads IFO's advice" \
    test "$(jq -r '.tracks[] | select(.unit == "ludvika-ifo-intake") |
    .events[] | select(.event == "advised") | .message.text' "$T/s1.json")" \
    = "Utredning inledd. Förslag: anpassad skoldag och samtal med familjen."
check "and the outcome code" \
    test "$(jq -r '.tracks[] | select(.unit == "ludvika-ifo-intake") |
    .events[] | select(.event == "advised") | .code' "$T/s1.json")" = \
    investigation-opened
school case status "$RID" >"$T/s1.txt" 2>&1
check "status for people shows the message and the due date" \
    sh -c "grep -q 'anpassad skoldag' '$T/s1.txt' &&
        grep -q 'follow-up due $due' '$T/s1.txt' &&
        grep -q 'every signed step verified' '$T/s1.txt'"

# BUP sees only its own loop, never what IFO answered.
bup referral pull "$RID" >/dev/null 2>&1
bup --json case status "$RID" >"$T/b1.json" 2>&1
check "BUP sees one loop, its own" \
    test "$(jq -r '[.tracks[].unit] | join(",")' "$T/b1.json")" = dalarna-bup
check "BUP does not learn IFO's outcome" \
    sh -c "! grep -q investigation-opened '$T/b1.json'"
bup case accept "$RID" >/dev/null 2>&1
bup case advise "$RID" --outcome advice-given --message "BUP-ADVICE-CANARY" \
    >"$T/b2.out" 2>&1
check "BUP may not send the school a message the consent does not cover" \
    sh -c "test $? -ne 0 && grep -q 'only the outcome' '$T/b2.out'"
bup case advise "$RID" --outcome advice-given >"$T/b3.out" 2>&1
check "BUP answers with the outcome only" test $? -eq 0
check "the refused message left no trace in the database" \
    sh -c "! sqlite3 '$DB' .dump | grep -q 'BUP-ADVICE-CANARY'"

# A hand-made step: messages sealed to a third unit are refused, and a
# statement signed by someone else is refused.
cert=$(jq -Rs . "$T/pki/users/anna.berg.crt")
printf '{"statement":"e30=","signature":"%s","certificate":%s}' \
    "$(head -c 64 /dev/zero | base64 -w0)" "$cert" >"$T/forged.json"
code=$(curl_as "$T/pki/users/anna.berg.crt" "$T/pki/users/anna.berg.key" \
    "/v1/cases/$RID/close" -X POST -H 'Content-Type: application/json' \
    --data-binary @"$T/forged.json")
check "a step with a bad signature is refused ($code)" test "$code" = 422 -o \
    "$code" = 400 -o "$code" = 403
code=$(curl_as "$T/pki/users/bjorn.akesson.crt" \
    "$T/pki/users/bjorn.akesson.key" "/v1/cases/$RID/close" -X POST \
    -H 'Content-Type: application/json' --data-binary @"$T/forged.json")
check "a step with someone else's certificate is refused ($code)" \
    test "$code" = 403

# Follow-up: the principal reports back; IFO closes.
school case follow-up "$RID" >"$T/f0.out" 2>&1
check "with two advised loops the school must name one" \
    sh -c "test $? -ne 0 && grep -q -- '--to UNIT' '$T/f0.out'"
school case follow-up "$RID" --to ludvika-ifo-intake \
    --message "Närvaron har ökat till 85 % sedan januari." >"$T/f1.out" 2>&1
check "the school reports back to IFO" \
    sh -c "test $? -eq 0 && grep -q 'is now followed-up' '$T/f1.out'"
ifo --json case status "$RID" >"$T/i2.json" 2>&1
check "IFO reads the follow-up report" \
    test "$(jq -r '.tracks[0].events[] | select(.event == "followed-up") |
    .message.text' "$T/i2.json")" = "Närvaron har ökat till 85 % sedan januari."
ifo case close "$RID" >"$T/cl.out" 2>&1
check "IFO closes the case" \
    sh -c "test $? -eq 0 && test \"\$(sqlite3 '$DB' \"SELECT state FROM
        referral_recipients WHERE referral_id = '$RID' AND
        recipient = 'ludvika-ifo-intake'\")\" = closed"
ifo case close "$RID" >/dev/null 2>&1
check "a closed case stays closed" test $? -ne 0

# Cancel: the sender withdraws a loop never read; the key is deleted.
RID2=$(submit)
school case cancel "$RID2" --to dalarna-bup >"$T/x1.out" 2>&1
check "the school cancels BUP's unread loop" \
    sh -c "test $? -eq 0 && grep -q 'is now cancelled' '$T/x1.out'"
check "BUP's key for it is deleted" \
    test "$(sqlite3 "$DB" "SELECT count(*) FROM envelopes WHERE
    referral_id = '$RID2' AND recipient = 'dalarna-bup'")" = 0
bup referral pull "$RID2" >"$T/x2.out" 2>&1
check "so BUP can no longer pull it" test $? -ne 0
check "IFO's loop is still open" \
    test "$(state "$RID2" ludvika-ifo-intake)" = submitted

# Tampering with a stored step is caught by the client.
sqlite3 "$DB" "PRAGMA trusted_schema = ON; UPDATE case_events SET code =
    'investigation-not-opened' WHERE referral_id = '$RID' AND
    event = 'advised' AND track = 'ludvika-ifo-intake'"
school case status "$RID" >"$T/t1.out" 2>&1
check "an altered outcome fails verification (exit 65)" \
    sh -c "test $? -eq 65 && grep -q 'failed verification' '$T/t1.out'"
sqlite3 "$DB" "UPDATE case_events SET code = 'investigation-opened' WHERE
    referral_id = '$RID' AND event = 'advised' AND
    track = 'ludvika-ifo-intake'"
sqlite3 "$DB" "UPDATE case_events SET seq = seq + 10 WHERE
    referral_id = '$RID' AND track = 'dalarna-bup' AND event = 'advised'"
school case status "$RID" >"$T/t2.out" 2>&1
check "a removed step breaks the chain and is caught" test $? -eq 65
sqlite3 "$DB" "UPDATE case_events SET seq = seq - 10 WHERE
    referral_id = '$RID' AND track = 'dalarna-bup' AND event = 'advised'"

# Bad input to a step: a clear 4xx, and nothing stored is lost.
before=$(sqlite3 "$DB" "SELECT count(*) FROM case_events")
printf '{"statement":"e30="}' >"$T/partial.json"
code=$(curl_as "$T/pki/users/anna.berg.crt" "$T/pki/users/anna.berg.key" \
    "/v1/cases/$RID2/accept" -X POST -H 'Content-Type: application/json' \
    --data-binary @"$T/partial.json")
check "a step without its signature is a 400 naming it ($code)" \
    sh -c "test '$code' = 400 && grep -q 'signature' '$T/curl.out'"
printf '{"statement": 12' >"$T/broken.json"
code=$(curl_as "$T/pki/users/anna.berg.crt" "$T/pki/users/anna.berg.key" \
    "/v1/cases/$RID2/accept" -X POST -H 'Content-Type: application/json' \
    --data-binary @"$T/broken.json")
check "malformed JSON is a 400 ($code)" test "$code" = 400
head -c 70000 /dev/zero | tr '\0' 'a' >"$T/big.json"
code=$(curl_as "$T/pki/users/anna.berg.crt" "$T/pki/users/anna.berg.key" \
    "/v1/cases/$RID2/accept" -X POST -H 'Content-Type: application/json' \
    -H 'Expect: 100-continue' --data-binary @"$T/big.json")
check "an oversized step is a 413 ($code)" test "$code" = 413
code=$(curl_as "$T/pki/users/anna.berg.crt" "$T/pki/users/anna.berg.key" \
    "/v1/cases/0123456789abcdef0123456789abcdef/accept" -X POST \
    -H 'Content-Type: application/json' --data-binary @"$T/forged.json")
check "a step on no such referral is a 404 ($code)" test "$code" = 404
check "nothing stored was lost or added" \
    test "$(sqlite3 "$DB" "SELECT count(*) FROM case_events")" = "$before"

# A withdrawn consent ends what may be said, not the loop.
jq --arg d "$in30" '.valid_until = $d | .recipients[0].feedback = true' \
    "$ROOT/examples/consent.json" >"$T/consent2.json"
CID2=$(as sara.lind --json consent record "$T/consent2.json" | jq -r .id)
RID4=$(as sara.lind --json referral submit \
    "$ROOT/examples/referral-draft.json" --consent "$CID2" | jq -r .id)
ifo referral pull "$RID4" >/dev/null 2>&1
ifo case accept "$RID4" >/dev/null 2>&1
as sara.lind consent withdraw "$CID2" >/dev/null 2>&1
ifo case advise "$RID4" --outcome investigation-opened \
    --message "WITHDRAWN-CANARY" >"$T/w1.out" 2>&1
check "after withdrawal IFO may no longer answer in full" \
    sh -c "test $? -ne 0 && grep -q 'only the outcome' '$T/w1.out'"
ifo case advise "$RID4" --outcome investigation-opened >"$T/w2.out" 2>&1
check "but still gives the outcome" test $? -eq 0
school case follow-up "$RID4" --to ludvika-ifo-intake \
    --message "WITHDRAWN-CANARY" >"$T/w3.out" 2>&1
check "and the school's report in words is refused" \
    sh -c "test $? -ne 0 && grep -q 'valid consent' '$T/w3.out'"
school case follow-up "$RID4" --to ludvika-ifo-intake >"$T/w4.out" 2>&1
check "the school can still report that the follow-up happened" \
    sh -c "test $? -eq 0 && grep -q 'is now followed-up' '$T/w4.out'"
check "no refused message reached the database" \
    sh -c "! sqlite3 '$DB' .dump | grep -q WITHDRAWN-CANARY"
check "the loop's steps so far are all kept" \
    test "$(sqlite3 "$DB" "SELECT group_concat(event) FROM (SELECT event
    FROM case_events WHERE referral_id = '$RID4' AND
    track = 'ludvika-ifo-intake' ORDER BY seq)")" = \
    "submitted,received,accepted,advised,followed-up"

# Audit: each step in the actor's log and the counterpart's.
n_ifo=$(sqlite3 "$DB" "SELECT count(*) FROM audit_leaves l JOIN audit_logs g
    ON g.id = l.log_id WHERE g.unit = 'ludvika-ifo-intake'")
check "the steps are in the logs ($n_ifo entries in IFO's)" test "$n_ifo" -gt 5
as karin.ek audit list --action case-advise >"$T/al.out" 2>&1
check "IFO's auditor sees the advice step" grep -q "case-advise" "$T/al.out"
as olle.revisor audit list --action case-follow-up >"$T/al2.out" 2>&1
check "the school's auditor sees the follow-up step" \
    grep -q "case-follow-up" "$T/al2.out"
as karin.ek audit list --action case-accept >"$T/al3.out" 2>&1
check "refused steps are audited too" grep -q "denied" "$T/al3.out"

# Due dates and the overdue list, with the clock moved 13 months on.
school case list >"$T/l1.out" 2>&1
check "the school sees its own due dates" grep -q "follow-up due" "$T/l1.out"
RID3=$(submit)
ifo referral pull "$RID3" >/dev/null 2>&1
ifo case accept "$RID3" >/dev/null 2>&1
ifo case advise "$RID3" --outcome investigation-not-opened >/dev/null 2>&1
ifo case overdue >"$T/o0.out" 2>&1
check "nothing is overdue today" grep -q "no overdue" "$T/o0.out"
stop_server
export REFXD_TEST_CLOCK_OFFSET=$((400 * 86400))
start_server
ifo --json case overdue >"$T/o1.json" 2>&1
check "13 months on, IFO's overdue list holds exactly the unanswered loop" \
    test "$(jq -r '[.cases[].id] | join(",")' "$T/o1.json")" = "$RID3"
school case overdue >"$T/o2.out" 2>&1
check "the school sees it overdue too" \
    sh -c "grep -q '$RID3' '$T/o2.out' && grep -q OVERDUE '$T/o2.out'"
bup --json case overdue >"$T/o3.json" 2>&1
check "BUP, whose loop was never followed up, is told too" \
    test "$(jq -r '[.cases[].id] | join(",")' "$T/o3.json")" = "$RID"
as bjorn.akesson --json case list >"$T/o4.json" 2>&1
check "BUP's list never shows IFO's loops" \
    sh -c "! jq -r '.cases[].unit' '$T/o4.json' | grep -q ifo"
stop_server
finish
