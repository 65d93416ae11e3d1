#!/bin/sh
# demo.sh: a throwaway exchange on loopback, end to end.
#
# Creates a PKI (a school in Ludvika, Ludvika IFO intake, Region Dalarna
# BUP, auditors), starts refxd on 127.0.0.1, and runs the whole story: who
# each person is, a stranger refused, the school screening its attendance
# export locally, consent, a referral each recipient reads its part of,
# the closed loop of advice and follow-up, withdrawal, each body's auditor
# verifying its log and catching an edit, and an overdue follow-up.
set -eu
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/$BUILD"
D=${DEMO_DIR:-/tmp/refx-demo}
PORT=${DEMO_PORT:-8443}
URL="https://localhost:$PORT"
SERVER_PID=""

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

cleanup() {
	if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -KILL "$SERVER_PID" 2>/dev/null || true
	fi
}
trap cleanup EXIT

rm -rf "$D"
mkdir -p "$D/data"
# refxd drops from root to 'nobody', which must reach its files.
chmod 755 "$D"
PATH="$BIN:$PATH"
export REFX_PKI_DIR="$D/pki"

say "1. The PKI officer creates the exchange's PKI and enrols everyone"
run refx-pki init --name "Dalarna referral exchange"
run refx-pki server
run refx-pki agency add ludvika-school-1 --kind school \
    --name "Ludvika kommun, Marnässkolan"
run refx-pki agency add ludvika-ifo-intake --kind ifo \
    --name "Ludvika kommun, IFO mottagning"
run refx-pki agency add dalarna-bup --kind bup --name "Region Dalarna, BUP"
run refx-pki user add --agency ludvika-school-1 --role submitter \
    --name "Sara Lind" --url "$URL"
run refx-pki user add --agency ludvika-ifo-intake --role caseworker \
    --name "Anna Berg" --url "$URL"
run refx-pki user add --agency dalarna-bup --role caseworker \
    --name "Björn Åkesson" --url "$URL"
run refx-pki user add --agency ludvika-ifo-intake --role auditor \
    --name "Karin Ek" --url "$URL"
run refx-pki user add --agency ludvika-school-1 --role auditor \
    --name "Olle Revisor" --url "$URL"
run refx-pki user add --agency dalarna-bup --role auditor \
    --name "Bodil Granskare" --url "$URL"
run refx-pki list
chmod 755 "$D/pki"
chmod 644 "$D/pki/crl.pem" "$D/pki/directory.pem"

say "2. The operator starts refxd on 127.0.0.1:$PORT"
cat >"$D/refxd.ini" <<INI
[server]
listen = 127.0.0.1
port = $PORT
user = nobody
[tls]
certificate = $D/pki/server.crt
key = $D/pki/server.key
ca = $D/pki/ca.crt
crl = $D/pki/crl.pem
[storage]
database = $D/data/refx.db
[directory]
units = $D/pki/directory.pem
[policy]
file = $ROOT/etc/policy.json
[audit]
keys = $D/pki/audit
INI
cat "$D/refxd.ini"
refxd -c "$D/refxd.ini" 2>"$D/refxd.log" &
SERVER_PID=$!
i=0
until grep -q "listening on" "$D/refxd.log"; do
	if ! kill -0 "$SERVER_PID" 2>/dev/null || [ $i -ge 100 ]; then
		echo "refxd did not start:"; cat "$D/refxd.log"; exit 1
	fi
	sleep 0.1; i=$((i + 1))
done
tail -1 "$D/refxd.log"

say "3. Each person asks the server who they are"
for p in sara.lind anna.berg bjorn.akesson karin.ek; do
	echo
	run env REFX_CONFIG="$D/pki/users/$p.ini" refx whoami
done
echo
run env REFX_CONFIG="$D/pki/users/anna.berg.ini" refx directory

say "4. A stranger with a certificate from another CA is refused"
refx-pki -d "$D/stranger" init --name "Somewhere else" >/dev/null
refx-pki -d "$D/stranger" agency add ludvika-ifo-intake --kind ifo \
    --name "Ludvika kommun, IFO mottagning" >/dev/null
refx-pki -d "$D/stranger" user add --agency ludvika-ifo-intake \
    --role caseworker --name "Eve Mallory" >/dev/null
set +e
run refx --server "$URL" --ca "$D/pki/ca.crt" \
    --cert "$D/stranger/users/eve.mallory.crt" \
    --key "$D/stranger/users/eve.mallory.key" whoami
rc=$?
set -e
echo "(refx exit code $rc)"
[ "$rc" -ne 0 ] || { echo "the stranger got in!"; exit 1; }
sleep 0.3
echo "refxd's log says:"
grep -E "refused|closed before" "$D/refxd.log" | tail -2

say "5. The school screens its attendance export, on its own machine"
# A generated SKOLA24-shaped export of one school year (856 pupils);
# refx screen reads no settings and opens no connection.
"$BIN/tests/tools/refx-gen-attendance" --format skola24 -o "$D/export.csv"
run refx screen --aggregate --mapping "$ROOT/examples/screen-skola24.ini" \
    "$D/export.csv"
refx screen --json --mapping "$ROOT/examples/screen-skola24.ini" \
    "$D/export.csv" >"$D/screen.json"
PUPIL=$(jq -r '.sandviken | max_by(.unexcused_percent) | .pupil' \
    "$D/screen.json")
jq -r --arg p "$PUPIL" '.sandviken[] | select(.pupil == $p) |
    "The Sandviken rule flags \(.pupil) (\(.class)): \(.unexcused_percent) % unexcused absence"' \
    "$D/screen.json"
run refx screen --mapping "$ROOT/examples/screen-skola24.ini" \
    "$D/export.csv" --draft "$PUPIL" --output "$D/draft-screened.json" \
    --school "Marnässkolan" --recipient ludvika-ifo-intake \
    --recipient dalarna-bup
# The school writes the rest (here: the example draft's text), keeping
# the screened pupil, class and statistics.
jq -s '.[1] * {fields: {identity: {name: .[0].fields.identity.name},
    school: .[0].fields.school,
    absence_stats: .[0].fields.absence_stats}}' \
    "$D/draft-screened.json" "$ROOT/examples/referral-draft.json" \
    >"$D/draft.json"
chmod 600 "$D/draft.json"
DRAFT="$D/draft.json"

say "6. The school records the guardians' consent"
CONSENT="$D/consent.json"
# The example consent, for the screened pupil, valid for 30 days.
jq --arg d "$(date -u -d '+30 days' +%F)" --arg n "$(jq -r \
    .fields.identity.name "$DRAFT")" '.valid_until = $d |
    (.parties[] | select(.role == "pupil") | .name) = $n' \
    "$ROOT/examples/consent.json" >"$CONSENT"
SARA="env REFX_CONFIG=$D/pki/users/sara.lind.ini"
ANNA="env REFX_CONFIG=$D/pki/users/anna.berg.ini"
BJORN="env REFX_CONFIG=$D/pki/users/bjorn.akesson.ini"
$SARA refx --json consent record "$CONSENT" >"$D/consent.out"
CID=$(sed -n 's/.*"id": *"\([0-9a-f]*\)".*/\1/p' "$D/consent.out" | head -1)
run $SARA refx consent show "$CID"

say "7. The school previews what IFO and BUP will each be able to read"
run $SARA refx referral submit "$DRAFT" --consent "$CID" --preview

say "8. The school submits the referral (encrypted and signed on its machine)"
$SARA refx --json referral submit "$DRAFT" --consent "$CID" \
    >"$D/submit.out"
RID=$(sed -n 's/.*"id": *"\([0-9a-f]*\)".*/\1/p' "$D/submit.out" | head -1)
echo "referral $RID submitted"
echo "The server holds ciphertext only:"
sqlite3 "$D/data/refx.db" "SELECT name, length(blob) || ' bytes' FROM
    referral_fields WHERE referral_id = '$RID' LIMIT 4;"
NAME=$(jq -r .fields.identity.name "$DRAFT")
if sqlite3 "$D/data/refx.db" .dump | grep -q "$NAME"; then
	echo "plaintext found in the database!"; exit 1
fi

say "9. IFO and BUP each pull and decrypt their own part (side by side)"
run $ANNA refx referral list
$ANNA refx referral pull "$RID" >"$D/ifo.txt"
$BJORN refx referral pull "$RID" >"$D/bup.txt"
# Two columns of 76 characters; longer lines are cut at the column edge.
awk 'NR == FNR { l[FNR] = $0; n = FNR; next }
    { r[FNR] = $0; m = FNR }
    END {
	printf "%-76.76s | %s\n", "IFO (ludvika-ifo-intake) sees",
	    "BUP (dalarna-bup) sees"
	dash = sprintf("%76s", ""); gsub(/ /, "-", dash)
	printf "%s-+-%s\n", dash, dash
	for (i = 1; i <= (n > m ? n : m); i++)
		printf "%-76.76s | %.76s\n", l[i], r[i]
    }' "$D/ifo.txt" "$D/bup.txt"

say "10. IFO accepts and advises the school; BUP answers with the outcome only"
# The consent lets IFO answer the school in full ("feedback": true) but
# not BUP: the policy then lets BUP send only an outcome code.
run $ANNA refx case accept "$RID"
run $ANNA refx case advise "$RID" --outcome investigation-opened \
    --message "Vi har inlett en utredning. Förslag till rektor: anpassad skoldag med senare start, och ett möte med familjen och elevhälsan inom två veckor."
run $BJORN refx case accept "$RID"
set +e
run $BJORN refx case advise "$RID" --outcome advice-given \
    --message "Elsa har fått en tid hos oss."
rc=$?
set -e
[ "$rc" -ne 0 ] || { echo "BUP's message was not refused!"; exit 1; }
run $BJORN refx case advise "$RID" --outcome advice-given

say "11. The school sees where the referral stands and reports back to IFO"
run $SARA refx case status "$RID"
run $SARA refx case follow-up "$RID" --to ludvika-ifo-intake \
    --message "Uppföljning: Elsa har kommit till skolan fyra dagar av fem sedan januari."
run $ANNA refx case close "$RID"
run $SARA refx case list

say "12. A guardian withdraws consent; the next pull is refused"
run $SARA refx consent withdraw "$CID"
set +e
run $BJORN refx referral pull "$RID"
rc=$?
set -e
echo "(refx exit code $rc)"
[ "$rc" -ne 0 ] || { echo "the pull after withdrawal was not refused!"; exit 1; }
run $SARA refx consent show "$CID"

say "13. Each body's auditor lists and verifies its own log"
sleep 2		# let refxd publish its checkpoints
for p in olle.revisor karin.ek bodil.granskare; do
	echo
	printf '$ refx audit list   (as %s, last 6 entries)\n' "$p"
	env REFX_CONFIG="$D/pki/users/$p.ini" refx audit list | tail -6
	run env REFX_CONFIG="$D/pki/users/$p.ini" refx audit verify \
	    --state-dir "$D/audit-state/$p"
done

say "14. Someone edits one byte of the database; the auditor notices"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || true
SERVER_PID=""
LOG=$(sqlite3 "$D/data/refx.db" "SELECT id FROM audit_logs WHERE
    unit = 'ludvika-ifo-intake'")
row=$(sqlite3 "$D/data/refx.db" "SELECT idx || ' ' || hex(entry) FROM
    audit_leaves WHERE log_id = $LOG AND instr(entry,
    X'616E6E612E62657267') > 0 LIMIT 1")
edited=$(echo "${row#* }" | sed 's/616E6E612E62657267/616E6E612E62657268/')
echo "Changing 'anna.berg' to 'anna.berh' in entry ${row%% *} of the IFO log"
sqlite3 "$D/data/refx.db" "DROP TRIGGER audit_leaves_append_only;
    UPDATE audit_leaves SET entry = X'$edited' WHERE log_id = $LOG AND
    idx = ${row%% *};"
refxd -c "$D/refxd.ini" 2>>"$D/refxd.log" &
SERVER_PID=$!
i=0
until [ "$(grep -c "listening on" "$D/refxd.log")" -ge 2 ]; do
	[ $i -lt 100 ] || { echo "refxd did not restart"; exit 1; }
	sleep 0.1; i=$((i + 1))
done
set +e
run env REFX_CONFIG="$D/pki/users/karin.ek.ini" refx audit verify \
    --state-dir "$D/audit-state/karin.ek"
rc=$?
set -e
echo "(refx audit verify exit code $rc: 4 means the log was altered)"
[ "$rc" -eq 4 ] || { echo "the edit was not detected!"; exit 1; }

say "15. Thirteen months later, BUP's follow-up report has not come: it is overdue"
# refxd's test-only clock knob stands in for a year of waiting.
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || true
REFXD_TEST_CLOCK_OFFSET=$((400 * 86400)) refxd -c "$D/refxd.ini" \
    2>>"$D/refxd.log" &
SERVER_PID=$!
i=0
until [ "$(grep -c "listening on" "$D/refxd.log")" -ge 3 ]; do
	[ $i -lt 100 ] || { echo "refxd did not restart"; exit 1; }
	sleep 0.1; i=$((i + 1))
done
run $BJORN refx case overdue
$BJORN refx --json case overdue | grep -q "$RID" ||
    { echo "the overdue case was not listed!"; exit 1; }
run $SARA refx case overdue

say "16. The operator stops refxd (SIGTERM)"
kill -TERM "$SERVER_PID"
set +e
wait "$SERVER_PID"
rc=$?
set -e
SERVER_PID=""
tail -2 "$D/refxd.log"
[ "$rc" -eq 0 ] || { echo "refxd exited $rc"; exit 1; }
echo
echo "Demo complete. Files are in $D."
