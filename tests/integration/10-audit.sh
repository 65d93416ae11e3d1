#!/bin/sh
# The audit log: every request, granted or refused, leaves an entry in
# the acting unit's log and in the logs of the units it concerns; each
# unit's auditor reads and verifies its own log offline; edits, deletions,
# swaps and rollbacks of a copy of the database are caught; refused
# certificates are counted into the system log.
. "$(dirname "$0")/lib.sh"

check "PKI created" make_pki
pki user add --agency ludvika-school-1 --role auditor --name "Olle Revisor" \
    --id olle.revisor >/dev/null
pki user add --agency dalarna-bup --role auditor --name "Bodil Granskare" \
    --id bodil.granskare >/dev/null
"$PKI" -d "$T/rogue" init --name Rogue >/dev/null &&
"$PKI" -d "$T/rogue" agency add x --kind ifo --name X >/dev/null &&
"$PKI" -d "$T/rogue" user add --agency x --role caseworker --name "Eve M" \
    --id eve >/dev/null
check "audit log keys issued by refx-pki" \
    test -f "$T/pki/audit/ludvika-ifo-intake.key" -a \
    -f "$T/pki/audit/ludvika-ifo-intake.crt" -a -f "$T/pki/audit/system.key"
check "audit log keys are 0600" \
    test "$(stat -c %a "$T/pki/audit/dalarna-bup.key")" = 600
write_config
check "refxd starts" start_server || { finish; exit 1; }
U="$T/pki/users"
KEYS="$T/pki/units"
DB="$T/data/refx.db"
in30=$(date -u -d '+30 days' +%F)
STATE="$T/auditor-state"

entries() { # entries UNIT -> number of entries in its log
	sqlite3 "$DB" "SELECT size FROM audit_logs WHERE unit = '$1'"
}
wait_checkpoint() { # wait_checkpoint UNIT: until the log is checkpointed
	i=0
	while [ $i -lt 50 ]; do
		n=$(sqlite3 "$DB" "SELECT count(*) FROM audit_checkpoints c
		    JOIN audit_logs l ON l.id = c.log_id WHERE l.unit = '$1'
		    AND c.size = l.size")
		[ "$n" = 1 ] && return 0
		sleep 0.2; i=$((i + 1))
	done
	return 1
}

# --- a referral's life leaves twin entries in each unit's log -------------
jq --arg d "$in30" '.valid_until = $d' "$ROOT/examples/consent.json" \
    >"$T/consent.json"
CID=$(as sara.lind --json consent record "$T/consent.json" | jq -r .id)
RID=$(as sara.lind --json referral submit "$ROOT/examples/referral-draft.json" \
    --consent "$CID" | jq -r .id)
check "referral submitted" test -n "$RID" -a "$RID" != null
as anna.berg --unit-key "$KEYS/ludvika-ifo-intake.key" referral pull "$RID" \
    >/dev/null 2>&1
as karin.ek referral pull "$RID" >/dev/null 2>&1
check "an auditor's refused pull is refused" test $? = 77
as sara.lind consent withdraw "$CID" --recipient dalarna-bup >/dev/null 2>&1
as bjorn.akesson --unit-key "$KEYS/dalarna-bup.key" referral pull "$RID" \
    >/dev/null 2>&1
check "a pull after withdrawal is refused" test $? = 77
curl -s -o /dev/null --cacert "$T/pki/ca.crt" --cert "$T/rogue/users/eve.crt" \
    --key "$T/rogue/users/eve.key" "$(URL)/v1/whoami"

as karin.ek --json audit list >"$T/ifo-log.json" 2>"$T/list.err"
check "IFO's auditor lists its log (rc=$?)" test -s "$T/ifo-log.json"
check "the IFO log records anna.berg's pull with the classes disclosed" \
    test "$(jq -r '[.[] | select(.action == "referral-pull" and
    .actor_person == "anna.berg" and .outcome == "allowed")] | length' \
    "$T/ifo-log.json")" = 1
check "the IFO log records the auditor's refused pull" \
    test "$(jq -r '[.[] | select(.action == "referral-pull" and
    .actor_person == "karin.ek" and .outcome == "denied")] | length' \
    "$T/ifo-log.json")" = 1
ev=$(jq -r '.[] | select(.action == "referral-pull" and .actor_person ==
    "anna.berg") | .event' "$T/ifo-log.json")
as olle.revisor --json audit list >"$T/school-log.json" 2>&1
check "the school's log holds the twin of IFO's pull (event $ev)" \
    test "$(jq -r --arg e "$ev" '[.[] | select(.event == $e)] | length' \
    "$T/school-log.json")" = 1
as bodil.granskare --json audit list >"$T/bup-log.json" 2>&1
check "the BUP log records the pull refused after withdrawal" \
    test "$(jq -r '[.[] | select(.action == "referral-pull" and
    .outcome == "denied" and (.reason | test("withdrawn")))] | length' \
    "$T/bup-log.json")" -ge 1
check "no entry holds a field value" \
    sh -c "! grep -q 'Elsa\|Svensson\|20120314' $T/ifo-log.json $T/school-log.json $T/bup-log.json"
as sara.lind --json referral receipts "$RID" >"$T/receipts.json" 2>&1
check "the school sees who pulled which classes" test \
    "$(jq -r '.receipts[0].person' "$T/receipts.json")" = anna.berg

# Refused handshakes reach the system log, counted per certificate.
i=0
while [ "$(sqlite3 "$DB" "SELECT count(*) FROM audit_leaves v JOIN
    audit_logs l ON l.id = v.log_id WHERE l.unit = 'system'")" = 0 ] &&
    [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
check "the refused certificate left an entry in the system log" \
    test "$(entries system)" -ge 1

# --- other units' logs stay closed ---------------------------------------
code=$(curl_as "$U/karin.ek.crt" "$U/karin.ek.key" /v1/audit/logs/dalarna-bup)
check "IFO's auditor cannot read BUP's log ($code)" test "$code" = 404
code=$(curl_as "$U/anna.berg.crt" "$U/anna.berg.key" \
    /v1/audit/logs/ludvika-ifo-intake)
check "a caseworker cannot read the audit log ($code)" test "$code" = 403
curl_as "$U/karin.ek.crt" "$U/karin.ek.key" /v1/audit/logs >/dev/null
check "the log list shows only the auditor's own log" \
    test "$(jq -r '[.logs[].unit] | join(",")' "$T/curl.out")" = ludvika-ifo-intake

# --- a checkpoint on demand -----------------------------------------------
n=$(entries ludvika-ifo-intake)
code=$(curl_as "$U/karin.ek.crt" "$U/karin.ek.key" \
    /v1/audit/logs/ludvika-ifo-intake/checkpoint -X POST)
check "an auditor gets a checkpoint on demand ($code)" test "$code" = 200
check "...signed for the log as it stood ($n entries)" \
    test "$(jq -r .checkpoint "$T/curl.out" | sed -n 2p)" = "$n"
code=$(curl_as "$U/karin.ek.crt" "$U/karin.ek.key" \
    /v1/audit/logs/dalarna-bup/checkpoint -X POST)
check "...but not for another unit's log ($code)" test "$code" = 404

# --- concurrency: entries equal requests ---------------------------------
curl_as "$U/anna.berg.crt" "$U/anna.berg.key" /v1/health >/dev/null
f0=$(jq .wal_fsyncs "$T/curl.out")
before=$(entries ludvika-ifo-intake)
pids=""
for i in 1 2 3 4 5 6 7 8; do
	( for j in 1 2 3 4 5; do
		curl -s -o /dev/null --cacert "$T/pki/ca.crt" \
		    --cert "$U/anna.berg.crt" --key "$U/anna.berg.key" \
		    "$(URL)/v1/whoami"
	done ) &
	pids="$pids $!"
done
# shellcheck disable=SC2086
wait $pids
after=$(entries ludvika-ifo-intake)
check "40 concurrent requests left exactly 40 entries ($before -> $after)" \
    test "$((after - before))" = 40
curl_as "$U/anna.berg.crt" "$U/anna.berg.key" /v1/health >/dev/null
diag "group commit: $(( $(jq .wal_fsyncs "$T/curl.out") - f0 )) WAL fsyncs for 41 commits"

# --- each auditor verifies its own log offline ----------------------------
for who in karin.ek olle.revisor bodil.granskare; do
	as "$who" audit list >/dev/null 2>&1
done
wait_checkpoint ludvika-ifo-intake
as karin.ek audit export "$T/ifo.bundle" >/dev/null 2>"$T/exp.err"
check "export writes a bundle" test -s "$T/ifo.bundle"
REFX_CONFIG="$T/none.ini" "$REFX" --ca "$T/pki/ca.crt" audit verify \
    "$T/ifo.bundle" --state-dir "$STATE" >"$T/verify.out" 2>&1
check "offline verify of the exported bundle succeeds (rc=$?)" \
    grep -q OK "$T/verify.out"
for who in olle.revisor bodil.granskare; do
	wait_checkpoint ludvika-school-1
	wait_checkpoint dalarna-bup
	as "$who" audit verify --state-dir "$T/state-$who" >"$T/v.out" 2>&1
	check "$who verifies its unit's log online (rc=$?)" grep -q OK "$T/v.out"
done

# --- a long log: a progress line on a terminal, none in a pipe ------------
: >"$T/many.cfg"
i=0
while [ $i -lt 1100 ]; do
	echo "url = \"$(URL)/v1/whoami\"" >>"$T/many.cfg"
	echo "output = /dev/null" >>"$T/many.cfg"
	i=$((i + 1))
done
curl -s --cacert "$T/pki/ca.crt" --cert "$U/karin.ek.crt" \
    --key "$U/karin.ek.key" -K "$T/many.cfg"
check "the IFO log now holds over 1000 entries ($(entries ludvika-ifo-intake))" \
    test "$(entries ludvika-ifo-intake)" -gt 1000
script -qec "env REFX_CONFIG=$T/pki/users/karin.ek.ini XDG_STATE_HOME=$T/tty \
    $REFX --server $(URL) audit verify" /dev/null >"$T/tty.out" 2>&1
check "on a terminal, verify shows its progress" \
    grep -q "verifying entry 1000/" "$T/tty.out"
check "...and still verifies" grep -q OK "$T/tty.out"
as karin.ek audit verify --state-dir "$T/pipe-state" >"$T/pipe.out" 2>&1
check "in a pipe, no progress line" sh -c "! grep -q 'verifying entry' $T/pipe.out"

# --- tampering with a copy of the database is caught ---------------------
# Take a consistent snapshot for the rollback case first.
sqlite3 "$DB" ".backup $T/snapshot.db"
for i in 1 2 3 4 5 6; do as karin.ek audit list >/dev/null 2>&1; done
wait_checkpoint ludvika-ifo-intake
as karin.ek audit verify --state-dir "$STATE" >"$T/v.out" 2>&1
check "verify after more activity (state advances)" grep -q OK "$T/v.out"
stop_server
cp "$DB" "$T/pristine.db"
LOG=$(sqlite3 "$DB" "SELECT id FROM audit_logs WHERE unit = 'ludvika-ifo-intake'")

tampered() { # tampered DESCRIPTION EXPECTED-RC SQL
	cp "$T/pristine.db" "$DB"
	rm -f "$DB-wal" "$DB-shm"
	sqlite3 "$DB" "DROP TRIGGER IF EXISTS audit_leaves_append_only;
	    DROP TRIGGER IF EXISTS audit_leaves_no_delete; $3"
	chown nobody "$DB" 2>/dev/null
	start_server >/dev/null || { not_ok "$1: server restart"; return; }
	cp -r "$STATE" "$T/state-try"
	as karin.ek audit verify --state-dir "$T/state-try" >"$T/t.out" 2>&1
	rc=$?
	rm -rf "$T/state-try"
	if [ "$rc" = "$2" ]; then
		ok "$1 is detected (exit $rc)"
	else
		not_ok "$1 is detected: exit $rc, wanted $2: $(tail -2 "$T/t.out")"
	fi
	stop_server
}
mid=$(( $(sqlite3 "$DB" "SELECT size FROM audit_logs WHERE id = $LOG") / 2 ))
# One byte of an entry naming anna.berg becomes anna.berh.
row=$(sqlite3 "$T/pristine.db" "SELECT idx || ' ' || hex(entry) FROM
    audit_leaves WHERE log_id = $LOG AND instr(entry, X'616E6E612E62657267')
    > 0 LIMIT 1")
edited=$(echo "${row#* }" | sed 's/616E6E612E62657267/616E6E612E62657268/')
tampered "a one-byte edit of an entry" 4 \
    "UPDATE audit_leaves SET entry = X'$edited' WHERE log_id = $LOG AND
    idx = ${row%% *}"
tampered "deleting a middle entry" 4 \
    "DELETE FROM audit_leaves WHERE log_id = $LOG AND idx = $mid"
tampered "swapping two entries" 4 \
    "UPDATE audit_leaves SET idx = -1 WHERE log_id = $LOG AND idx = $mid;
     UPDATE audit_leaves SET idx = $mid WHERE log_id = $LOG AND idx = $((mid + 1));
     UPDATE audit_leaves SET idx = $((mid + 1)) WHERE log_id = $LOG AND idx = -1"
cp "$T/snapshot.db" "$T/pristine.db"
tampered "replaying an older state (rollback)" 3 "SELECT 1"

# --- disk full: 503, nothing released ------------------------------------
cp "$T/pristine.db" "$DB"
REFXD_TEST_DB_MAX_PAGES=0
export REFXD_TEST_DB_MAX_PAGES
start_server >/dev/null
unset REFXD_TEST_DB_MAX_PAGES
for i in 1 2 3 4 5 6 7 8 9 10; do
	code=$(curl_as "$U/sara.lind.crt" "$U/sara.lind.key" "/v1/referrals/$RID")
	[ "$code" = 503 ] && break
done
check "with the disk full a pull gets 503 ($code)" test "$code" = 503
check "...and no packet" sh -c "! grep -q manifest $T/curl.out"
stop_server
finish
