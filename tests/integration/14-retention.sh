#!/bin/sh
# Retention (gallring): past the retention etc/policy.json sets per body
# and record type (IFO 5 years, the school 5, BUP 10, counted from the
# last entry), refxd deletes the keys and ciphertexts it holds for that
# copy and nothing else, and writes a deletion record into the unit's
# audit log under a signed checkpoint, which the unit's auditor verifies.
# A fake clock walks more than eleven years: `refxd --purge` (beside a
# running refxd, and alone), then the periodic purge of a running refxd.
. "$(dirname "$0")/lib.sh"

check "PKI created" make_pki
write_config
# The running refxd's own purge (first run at start) only where tested.
printf '[retention]\npurge_interval = 0\n' >>"$T/refxd.ini"
KEYS="$T/pki/units"
DB="$T/data/refx.db"
SCHOOL=ludvika-school-1
IFO=ludvika-ifo-intake
BUP=dalarna-bup
DAY=86400
NOW=$(date -u +%s)

# The fake clock, in days from the real one (refxd takes under 3650 either
# way).  T0 = A; every phase is later than the one before, as the times
# in an audit log must be.
A=-1830			# T0: R1 (IFO, BUP) and R2 (IFO) submitted
A2=$((A + 400))		# a later entry on R2's loop
B=$((A + 2200))		# ~6 years: IFO and the school are due for R1, BUP not
C=$((A + 3840))		# ~10.5 years: BUP is due for R1; R2 is due
D=$((A + 4250))		# ~11.6 years: R3, submitted at B, is due for IFO
day() { date -u -d "@$((NOW + $1 * DAY))" +%F; }
clock() { REFXD_TEST_CLOCK_OFFSET=$(($1 * DAY)); export REFXD_TEST_CLOCK_OFFSET; }
purge() { # refxd --purge with the same config: stdout in purge.out
	"$REFXD" -c "$T/refxd.ini" --purge >"$T/purge.out" 2>"$T/purge.err"
}
school() { as sara.lind --unit-key "$KEYS/$SCHOOL.key" "$@"; }
ifo() { as anna.berg --unit-key "$KEYS/$IFO.key" "$@"; }
bup() { as bjorn.akesson --unit-key "$KEYS/$BUP.key" "$@"; }
q() { sqlite3 "$DB" "$1"; }
envelope() { # envelope REFERRAL UNIT: 1 if the unit still holds its key
	q "SELECT count(*) FROM envelopes WHERE referral_id = '$1' AND
	    recipient = '$2'"
}
# Entries of UNIT's log whose action byte (offset 52) is / is not "purge".
purges() {
	q "SELECT count(*) FROM audit_leaves v JOIN audit_logs l ON
	    l.id = v.log_id WHERE l.unit = '$1' AND substr(v.entry, 53, 1) = x'17'"
}
others() {
	q "SELECT count(*) FROM audit_leaves v JOIN audit_logs l ON
	    l.id = v.log_id WHERE l.unit = '$1' AND substr(v.entry, 53, 1) != x'17'"
}
signed() { # signed UNIT: 1 if a signed checkpoint covers its last purge entry
	q "SELECT (SELECT max(c.size) FROM audit_checkpoints c WHERE
	    c.log_id = l.id) > (SELECT max(v.idx) FROM audit_leaves v WHERE
	    v.log_id = l.id AND substr(v.entry, 53, 1) = x'17') FROM
	    audit_logs l WHERE l.unit = '$1'"
}
# Everything the purge must never change: the metadata, column by column
# (minus the purge dates and the ciphertext columns), and the row count
# of every other table but those that hold keys, ciphertexts or the logs.
kept() {
	q "SELECT id, sender_unit, sender_person, basis, consent_id,
	    created_at, policy_hash, hex(manifest), hex(signature), certificate
	    FROM referrals ORDER BY id;
	  SELECT referral_id, recipient, kind, fields, status, state,
	    last_entry_at, follow_up_due FROM referral_recipients ORDER BY 1, 2;
	  SELECT id, referral_id, track, seq, event, author_unit, author_person,
	    at, code, hex(statement), hex(signature), certificate, message_id
	    FROM case_events ORDER BY id;
	  SELECT id, owner, recorded_by, recorded_at, valid_until, status,
	    status_at, status_by, parties FROM consents ORDER BY id;
	  SELECT * FROM consent_scope ORDER BY 1, 2;
	  SELECT consent_id, hex(statement), hex(signature), certificate
	    FROM consent_statements ORDER BY 1;
	  SELECT * FROM disclosures ORDER BY id;" | sha256sum
	for t in $(q "SELECT name FROM sqlite_master WHERE type = 'table'
	    ORDER BY name"); do
		case "$t" in
		envelopes|case_message_envelopes|consent_envelopes|\
		referral_fields|audit_leaves|audit_nodes|audit_checkpoints) ;;
		*) echo "$t $(q "SELECT count(*) FROM \"$t\"")" ;;
		esac
	done
}
root_files() { find "$T/data" -user root | tr '\n' ' '; }

# --- T0: referrals to IFO and BUP, a sealed answer, a withdrawn consent ---
clock $A
check "refxd starts at T0 ($(day $A))" start_server || { finish; exit 1; }
# C1 lets IFO answer the school in full and lasts beyond six years.
jq --arg d "$(day $((A + 2300)))" '.valid_until = $d |
    .recipients[0].feedback = true' "$ROOT/examples/consent.json" \
    >"$T/c1.json"
C1=$(as sara.lind --json consent record "$T/c1.json" 2>"$T/err" | jq -r .id)
R1=$(as sara.lind --json referral submit "$ROOT/examples/referral-draft.json" \
    --consent "$C1" 2>>"$T/err" | jq -r .id)
check "R1 submitted to IFO and BUP on consent C1 ($R1)" \
    test -n "$R1" -a "$R1" != null
ifo referral pull "$R1" >/dev/null 2>&1 &&
bup referral pull "$R1" >/dev/null 2>&1 &&
ifo case accept "$R1" >/dev/null 2>&1 &&
ifo case advise "$R1" --outcome investigation-opened \
    --message "Utredning inledd." >"$T/adv.out" 2>&1
check "IFO answers the school with a sealed message (rc=$?)" \
    test "$(q "SELECT count(*) FROM case_message_envelopes m JOIN
    case_events e ON e.id = m.event_id WHERE e.referral_id = '$R1'")" = 2
T0=$(q "SELECT substr(max(last_entry_at), 1, 10) FROM referral_recipients")
check "the last entry is dated by the fake clock ($T0)" test "$T0" = "$(day $A)"

# C2: R2 goes to IFO only, then the guardians withdraw C2 at once.
cp "$T/c1.json" "$T/c2.json"
C2=$(as sara.lind --json consent record "$T/c2.json" 2>>"$T/err" | jq -r .id)
jq '.recipients = ["ludvika-ifo-intake"]' \
    "$ROOT/examples/referral-draft.json" >"$T/r2.json"
R2=$(as sara.lind --json referral submit "$T/r2.json" --consent "$C2" \
    2>>"$T/err" | jq -r .id)
as sara.lind consent withdraw "$C2" >/dev/null 2>&1
check "R2 submitted on C2, and C2 withdrawn ($R2)" \
    test "$(q "SELECT status FROM consents WHERE id = '$C2'")" = withdrawn
stop_server

# --- T0 + 400 days: the school cancels R2's loop (its last entry) -------
clock $A2
start_server >/dev/null
school case cancel "$R2" --to $IFO >"$T/cancel.out" 2>&1
check "the school cancels R2's loop a year later (rc=$?)" \
    test "$(q "SELECT substr(last_entry_at, 1, 10) FROM referral_recipients
    WHERE referral_id = '$R2'")" = "$(day $A2)"
stop_server

# --- ~6 years: refxd --purge beside a running refxd ----------------------
clock $B
start_server >/dev/null
jq --arg d "$(day $((B + 3000)))" '.valid_until = $d' \
    "$ROOT/examples/consent.json" >"$T/c3.json"
C3=$(as sara.lind --json consent record "$T/c3.json" 2>>"$T/err" | jq -r .id)
R3=$(as sara.lind --json referral submit "$ROOT/examples/referral-draft.json" \
    --consent "$C3" 2>>"$T/err" | jq -r .id)
check "R3 submitted at ~6 years ($R3)" test -n "$R3" -a "$R3" != null
n1=$(q "SELECT count(*) FROM referral_fields WHERE referral_id = '$R1'")
before=$(kept)
p_ifo=$(purges $IFO); p_school=$(purges $SCHOOL); p_bup=$(purges $BUP)

# Requests keep coming while the purge runs in another process.
( i=0; while [ $i -lt 20 ]; do
	as sara.lind whoami >/dev/null 2>&1 || echo "request $i failed"
	i=$((i + 1))
done ) >"$T/loop.out" 2>&1 &
LOOP=$!
sleep 0.2
purge
rc=$?
wait $LOOP
check "refxd --purge runs beside a running refxd (rc=$rc)" test "$rc" = 0
check "...and the running refxd answered every request meanwhile" \
    test ! -s "$T/loop.out"
check "it prints one summary line of counts" \
    test "$(cat "$T/purge.out")" = "purge done: recipient_copies=1 \
sender_copies=1 referrals=0 consents=0 envelopes=2 message_keys=2 fields=0 \
messages=0 consent_keys=0 records=2"
check "IFO's envelope of R1 is gone" test "$(envelope "$R1" $IFO)" = 0
check "the school's own copy of R1 is gone (school: 5 years)" \
    test "$(envelope "$R1" $SCHOOL)" = 0
check "BUP's envelope of R1 remains (BUP: 10 years)" \
    test "$(envelope "$R1" $BUP)" = 1
check "IFO's and the school's keys to the sealed answer are gone" \
    test "$(q "SELECT count(*) FROM case_message_envelopes m JOIN
    case_events e ON e.id = m.event_id WHERE e.referral_id = '$R1'")" = 0
check "R1's field ciphertexts remain: BUP still holds a key ($n1)" \
    test "$(q "SELECT count(*) FROM referral_fields WHERE
    referral_id = '$R1'")" = "$n1" -a "$n1" -gt 0
check "R1's copies are marked: IFO purged, BUP not, the sender's purged" \
    test "$(q "SELECT group_concat(recipient || '=' || (purged_at IS NOT
    NULL), ',') FROM (SELECT * FROM referral_recipients WHERE
    referral_id = '$R1' ORDER BY recipient)")|$(q "SELECT
    (sender_purged_at IS NOT NULL) || (purged_at IS NOT NULL) FROM
    referrals WHERE id = '$R1'")" = "$BUP=0,$IFO=1|10"
check "R3, submitted at ~6 years, is untouched" \
    test "$(q "SELECT count(*) FROM envelopes WHERE referral_id = '$R3'
    "),$(q "SELECT count(*) FROM referral_recipients WHERE
    referral_id = '$R3' AND purged_at IS NULL"),$(q "SELECT count(*) FROM
    referrals WHERE id = '$R3' AND sender_purged_at IS NULL")" = 3,2,1
check "R2 is not due yet: its last entry was 400 days after T0" \
    test "$(envelope "$R2" $SCHOOL)" = 1
check "C2 is kept while R2 keeps the school's copy, though withdrawn 6 years ago" \
    test "$(q "SELECT length(blob) > 0 AND purged_at IS NULL FROM consents
    WHERE id = '$C2'")" = 1
check "nothing else changed" test "$(kept)" = "$before"
check "one deletion record in IFO's log, one in the school's, none in BUP's" \
    test "$(($(purges $IFO) - p_ifo)),$(($(purges $SCHOOL) - p_school)),$(($(purges $BUP) - p_bup))" = 1,1,0
check "each record is already under a signed checkpoint" \
    test "$(signed $IFO)$(signed $SCHOOL)" = 11
check "the database files still belong to the service user [$(root_files)]" \
    test -z "$(root_files)"

ifo referral pull "$R1" >"$T/pull-ifo.out" 2>&1
rc=$?
check "IFO's pull of R1 is now refused (rc=$rc)" test "$rc" = 77
check "...with a clear message: $(tail -1 "$T/pull-ifo.out")" \
    grep -q "keys for your unit have been deleted at the end of retention" "$T/pull-ifo.out"
bup --json referral pull "$R1" >"$T/pull-bup.json" 2>"$T/pull-bup.err"
check "BUP still pulls and decrypts R1 (rc=$?)" \
    test "$(jq -r .fields.identity.name "$T/pull-bup.json")" = "Elsa Svensson"
ifo --json referral pull "$R3" >"$T/pull-r3.json" 2>&1
check "IFO still pulls and decrypts R3" \
    test "$(jq -r .fields.identity.name "$T/pull-r3.json")" = "Elsa Svensson"
stop_server

# --- ~10.5 years: refxd --purge alone -----------------------------------
clock $C
before=$(kept)
o_ifo=$(others $IFO); o_school=$(others $SCHOOL); o_bup=$(others $BUP)
p_ifo=$(purges $IFO); p_school=$(purges $SCHOOL); p_bup=$(purges $BUP)
n2=$(q "SELECT count(*) FROM referral_fields WHERE referral_id = '$R2'")
purge
check "refxd --purge at ~10.5 years (rc=$?): $(cat "$T/purge.out")" \
    test "$(cat "$T/purge.out")" = "purge done: recipient_copies=2 \
sender_copies=1 referrals=2 consents=1 envelopes=2 message_keys=0 \
fields=$((n1 + n2)) messages=1 consent_keys=1 records=6"
check "BUP's envelope of R1 is gone" test "$(envelope "$R1" $BUP)" = 0
check "no unit holds a key to R1: its field ciphertexts are gone" \
    test "$(q "SELECT count(*) FROM referral_fields WHERE
    referral_id = '$R1'")" = 0
check "...and its sealed case message" \
    test "$(q "SELECT count(*) FROM case_events WHERE referral_id = '$R1'
    AND message IS NOT NULL")" = 0
check "R1's referral row stays, marked purged" \
    test "$(q "SELECT purged_at IS NOT NULL FROM referrals WHERE
    id = '$R1'")" = 1
check "R2's copies and ciphertexts are gone, its last entry 5 years past" \
    test "$(q "SELECT count(*) FROM envelopes WHERE referral_id = '$R2'
    "),$(q "SELECT count(*) FROM referral_fields WHERE referral_id = '$R2'
    "),$(q "SELECT purged_at IS NOT NULL FROM referrals WHERE
    id = '$R2'")" = 0,0,1
check "C2's sealed names are gone, now that R2's sender copy is" \
    test "$(q "SELECT length(blob) || ',' || (purged_at IS NOT NULL) FROM
    consents WHERE id = '$C2'"),$(q "SELECT count(*) FROM
    consent_envelopes WHERE consent_id = '$C2'")" = 0,1,0
check "C1 (past its date, not yet marked expired) and C3 are untouched" \
    test "$(q "SELECT count(*) FROM consents WHERE id IN ('$C1', '$C3') AND
    length(blob) > 0 AND purged_at IS NULL")" = 2
check "R3 is still untouched" \
    test "$(q "SELECT count(*) FROM envelopes WHERE referral_id = '$R3'")" = 3
check "nothing else changed" test "$(kept)" = "$before"
check "no audit entry changed or went; only deletion records were added" \
    test "$(others $IFO),$(others $SCHOOL),$(others $BUP)" = \
    "$o_ifo,$o_school,$o_bup"
check "records: R2 in IFO's log; R1 in BUP's; R2, R1, R2, C2 in the school's" \
    test "$(($(purges $IFO) - p_ifo)),$(($(purges $SCHOOL) - p_school)),$(($(purges $BUP) - p_bup))" = 1,4,1
check "every log's newest checkpoint covers it all" \
    test "$(q "SELECT count(*) FROM audit_logs l WHERE l.size != (SELECT
    max(c.size) FROM audit_checkpoints c WHERE c.log_id = l.id)")" = 0
check "the database files still belong to the service user [$(root_files)]" \
    test -z "$(root_files)"
purge
check "a second run finds nothing more" \
    grep -q "recipient_copies=0 sender_copies=0 referrals=0 consents=0 .*records=0" \
    "$T/purge.out"

# --- ~11.6 years: the running refxd purges by itself --------------------
clock $D
sed -i '/^\[retention\]/,$d' "$T/refxd.ini"
printf '[retention]\npurge_interval = 1\n' >>"$T/refxd.ini"
check "refxd starts with [retention] purge_interval = 1" start_server ||
    { finish; exit 1; }
i=0
while [ "$(envelope "$R3" $IFO)$(envelope "$R3" $SCHOOL)" != 00 ] &&
    [ $i -lt 100 ]; do
	sleep 0.2; i=$((i + 1))
done
check "within seconds it deleted IFO's and the school's copies of R3" \
    test "$(envelope "$R3" $IFO)$(envelope "$R3" $SCHOOL)" = 00
check "...and kept BUP's (10 years)" test "$(envelope "$R3" $BUP)" = 1
check "...logging one summary line, with no id of a pupil" \
    grep -q "purge [0-9a-f]\{32\}: recipient_copies=1 sender_copies=1" \
    "$T/refxd.log"
bup referral pull "$R1" >"$T/pull.out" 2>&1
rc=$?
check "BUP can no longer pull R1 (rc=$rc)" test "$rc" = 77 -a \
    "$(grep -c Svensson "$T/pull.out")" = 0

# IFO's auditor reads and verifies the deletion records of IFO's log.
as karin.ek --json audit list --action purge >"$T/purges.json" 2>&1
check "IFO's auditor lists three deletion records (R1, R2, R3)" \
    test "$(jq -r '[.[].object_id] | join(",")' "$T/purges.json")" = \
    "$R1,$R2,$R3"
check "...made by the exchange itself, allowed, classes named" \
    test "$(jq -r '.[0] | [.actor_unit, .actor_kind, .actor_role,
    .actor_person, .outcome, (.classes | index("home_situation") != null)]
    | map(tostring) | join(",")' "$T/purges.json")" = ",-,-,,allowed,true"
r=$(jq -r '.[0].reason' "$T/purges.json")
matches() { printf '%s\n' "$1" | grep -q "$2"; }
check "...with the rule, its reference, what went: $r" matches "$r" \
    "^retention: ifo referral 5 years after last entry $T0 (SoL (2001:453) \
12 kap. 1 §.*); deleted: envelope, 1 case message key; manifest sha256 \
[0-9a-f]\{16\}\$"
i=0
while [ "$(signed $IFO)" != 1 ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
as karin.ek audit export "$T/ifo.bundle" >/dev/null 2>"$T/export.err"
check "IFO's auditor exports the log" test -s "$T/ifo.bundle"
check "...the export holds the deletion records" \
    test "$(jq -r '.entries[]' "$T/ifo.bundle" | while read -r e; do
    echo "$e" | base64 -d | grep -ac "retention: ifo referral"; done |
    grep -c 1)" = 3
REFX_CONFIG="$T/none.ini" "$REFX" --ca "$T/pki/ca.crt" audit verify \
    "$T/ifo.bundle" --state-dir "$T/verify-state" >"$T/verify.out" 2>&1
check "...and verifies it offline (rc=$?)" grep -q OK "$T/verify.out"

stop_server
check "SIGTERM stops refxd with its purge thread (rc=$SERVER_RC)" \
    test "$SERVER_RC" = 0
unset REFXD_TEST_CLOCK_OFFSET
finish
