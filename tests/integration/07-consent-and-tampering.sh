#!/bin/sh
# Consent that is missing, half-given, withdrawn or expired refuses the
# referral; the server refuses envelopes beyond policy ∩ consent even
# when the client is bypassed; tampering anywhere is caught by the
# recipient; a report of concern goes to IFO only; bad files name the field.
. "$(dirname "$0")/lib.sh"

check "PKI created" make_pki
write_config
check "refxd starts" start_server || { finish; exit 1; }
U="$T/pki/users"
KEYS="$T/pki/units"
DB="$T/data/refx.db"
in30=$(date -u -d '+30 days' +%F)
today=$(date -u +%F)
CRAFT="$BIN/tests/tools/refx-craft"

jq '.fields.diagnoses = ["CANARY-DIAGNOSIS"] | .fields.emi_medical = "CANARY-EMI"' \
    "$ROOT/examples/referral-draft.json" >"$T/draft.json"
jq --arg d "$in30" '.valid_until = $d' "$ROOT/examples/consent.json" \
    >"$T/consent.json"
record() { # record FILE -> consent id
	as sara.lind --json consent record "$1" 2>"$T/record.err" |
	    jq -r .id 2>/dev/null
}
submit() { # submit CONSENT [args] -> referral id
	c=$1; shift
	as sara.lind --json referral submit "$T/draft.json" --consent "$c" \
	    "$@" 2>"$T/submit.err" | jq -r .id 2>/dev/null
}
pull_rc() { # pull_rc PERSON UNIT RID -> exit code
	as "$1" --unit-key "$KEYS/$2.key" referral pull "$3" >"$T/pull.out" 2>&1
	echo $?
}

# --- consent given by only one of two custodial guardians -------------
jq '.parties[1].decision = "no"' "$T/consent.json" >"$T/half.json"
HALF=$(record "$T/half.json")
check "a half-given consent is recorded as documentation" test -n "$HALF"
as sara.lind --json consent show "$HALF" >"$T/show.json" 2>&1
check "...and shown as not valid" test "$(jq -r .valid "$T/show.json")" = false
check "...with the reason" grep -q "did not consent" "$T/show.json"
rid=$(submit "$HALF")
check "referral on a half-given consent is refused" test -z "$rid" -o "$rid" = null
check "the refusal says why" grep -q "did not consent" "$T/submit.err"

# --- no consent at all -------------------------------------------------
rid=$(submit 0123456789abcdef0123456789abcdef)
check "referral on a missing consent is refused" test -z "$rid" -o "$rid" = null

# --- a valid consent, a referral, then withdrawal -----------------------
CID=$(record "$T/consent.json")
check "consent recorded" test -n "$CID" -a "$CID" != null
RID=$(submit "$CID")
check "referral submitted" test -n "$RID" -a "$RID" != null
check "IFO pulls before withdrawal" \
    test "$(pull_rc anna.berg ludvika-ifo-intake "$RID")" = 0
n0=$(sqlite3 "$DB" "SELECT count(*) FROM envelopes WHERE referral_id='$RID'")
as sara.lind consent withdraw "$CID" >"$T/w.out" 2>&1
check "consent withdrawn" test $? = 0
n1=$(sqlite3 "$DB" "SELECT count(*) FROM envelopes WHERE referral_id='$RID'")
check "recipients' envelopes deleted at withdrawal ($n0 -> $n1)" \
    test "$n0" = 3 -a "$n1" = 1
check "only the school's own envelope remains" test "$(sqlite3 "$DB" \
    "SELECT recipient FROM envelopes WHERE referral_id='$RID'")" = ludvika-school-1
check "BUP's next pull is refused (exit 77)" \
    test "$(pull_rc bjorn.akesson dalarna-bup "$RID")" = 77
check "the refusal gives the reason" grep -q "withdrawn" "$T/pull.out"
as sara.lind --json consent show "$CID" >"$T/show.json" 2>&1
check "consent show lists who had pulled which classes" test \
    "$(jq -r '.disclosures[] | select(.recipient == "ludvika-ifo-intake") | .person' "$T/show.json")" = anna.berg
check "consent show says withdrawn" test "$(jq -r .status "$T/show.json")" = withdrawn
rid=$(submit "$CID")
check "a withdrawn consent refuses new referrals" test -z "$rid" -o "$rid" = null

# --- withdrawal for one recipient only -----------------------------------
CID2=$(record "$T/consent.json")
RID2=$(submit "$CID2")
as sara.lind consent withdraw "$CID2" --recipient dalarna-bup >/dev/null 2>&1
check "BUP refused after its part is withdrawn" \
    test "$(pull_rc bjorn.akesson dalarna-bup "$RID2")" = 77
check "IFO still pulls" test "$(pull_rc anna.berg ludvika-ifo-intake "$RID2")" = 0

# --- a scope widened on the server is not what the school signed --------
CIDW=$(record "$T/consent.json")
check "consent to widen recorded" test -n "$CIDW" -a "$CIDW" != null
sqlite3 "$DB" "UPDATE consent_scope SET classes = 8191 WHERE consent_id = '$CIDW'"
nr0=$(sqlite3 "$DB" "SELECT count(*) FROM referrals")
as sara.lind referral submit "$T/draft.json" --consent "$CIDW" \
    >"$T/wide.out" 2>&1
rc=$?
nr1=$(sqlite3 "$DB" "SELECT count(*) FROM referrals")
check "submit under a widened scope is refused (rc=$rc)" test "$rc" = 65
check "...saying it is not what the school signed" grep -q "signed" "$T/wide.out"
check "...and no referral is stored ($nr0 -> $nr1)" test "$nr0" = "$nr1"

# --- the server refuses envelopes beyond policy ∩ consent --------------
curl_as "$U/anna.berg.crt" "$U/anna.berg.key" /v1/directory >/dev/null
cp "$T/curl.out" "$T/directory.json"
HASH=$(curl -s --cacert "$T/pki/ca.crt" --cert "$U/sara.lind.crt" \
    --key "$U/sara.lind.key" "$(URL)/v1/policy" | jq -r .hash)
CID3=$(record "$T/consent.json")
craft() {
	"$CRAFT" --draft "$T/draft.json" --consent "$CID3" \
	    --me-unit ludvika-school-1 --me-person sara.lind \
	    --cert "$U/sara.lind.crt" --key "$U/sara.lind.key" \
	    --directory "$T/directory.json" --policy-hash "$HASH" "$@"
}
post() { # post BODYFILE -> HTTP status
	curl -s -o "$T/post.out" -w '%{http_code}' --max-time 10 \
	    --cacert "$T/pki/ca.crt" --cert "$U/sara.lind.crt" \
	    --key "$U/sara.lind.key" -H 'Content-Type: application/json' \
	    --data-binary @"$1" "$(URL)/v1/referrals"
}
craft --envelope dalarna-bup=identity,referral_reason,emi_medical \
    --envelope ludvika-ifo-intake=identity >"$T/evil.json"
code=$(post "$T/evil.json")
check "hand-crafted envelope giving BUP the EMI notes is refused ($code)" \
    test "$code" = 403
check "...naming the field and the rule" \
    sh -c "grep -q emi_medical $T/post.out && grep -q dalarna-bup $T/post.out"
craft --envelope dalarna-bup=identity --envelope \
    ludvika-ifo-intake=identity,diagnoses >"$T/evil2.json"
code=$(post "$T/evil2.json")
check "hand-crafted envelope giving IFO diagnoses is refused ($code)" \
    test "$code" = 403
craft --envelope dalarna-bup=identity,diagnoses \
    --envelope ludvika-ifo-intake=identity >"$T/good.json"
code=$(post "$T/good.json")
check "the same tool within policy ∩ consent is accepted ($code)" \
    test "$code" = 201
for what in field-blob envelope signature manifest; do
	craft --envelope dalarna-bup=identity --envelope \
	    ludvika-ifo-intake=identity --tamper "$what" >"$T/t.json"
	code=$(post "$T/t.json")
	case "$code" in
	4*) ok "server refuses a submit with tampered $what ($code)" ;;
	*) not_ok "server refuses a submit with tampered $what ($code)" ;;
	esac
done

# --- tampering after storage is caught by the recipient -----------------
RID4=$(submit "$CID3")
tamper_and_pull() { # tamper_and_pull DESCRIPTION SQL (on a fresh referral)
	sqlite3 "$DB" "$2"
	rc=$(pull_rc bjorn.akesson dalarna-bup "$RID4")
	if [ "$rc" = 65 ] && ! grep -q CANARY "$T/pull.out" &&
	    grep -qi "verif\|tamper\|does not match" "$T/pull.out"; then
		ok "tampered $1 detected, nothing shown"
	else
		not_ok "tampered $1 detected (rc=$rc): $(head -3 "$T/pull.out")"
	fi
}
# flip_sql TABLE COLUMN WHERE: SQL that flips one bit of the last byte.
flip_sql() {
	h=$(sqlite3 "$DB" "SELECT hex($2) FROM $1 WHERE $3")
	last=$(printf '%s' "$h" | tail -c 2)
	new=$(printf '%02X' $((0x$last ^ 1)))
	echo "UPDATE $1 SET $2 = X'$(printf '%s' "$h" | head -c $((${#h} - 2)))$new' WHERE $3"
}
tamper_and_pull "ciphertext" "$(flip_sql referral_fields blob \
    "referral_id = '$RID4' AND name = 'identity'")"
RID4=$(submit "$CID3")
tamper_and_pull "envelope" "$(flip_sql envelopes sealed \
    "referral_id = '$RID4' AND recipient = 'dalarna-bup'")"
RID4=$(submit "$CID3")
tamper_and_pull "signature" "$(flip_sql referrals signature "id = '$RID4'")"
RID4=$(submit "$CID3")
tamper_and_pull "manifest" \
    "UPDATE referrals SET manifest = CAST(replace(CAST(manifest AS TEXT), 'dalarna-bup', 'dalarna-bvp') AS BLOB) WHERE id = '$RID4'"

# --- expiry: at the first request after the date -------------------------
jq --arg d "$today" '.valid_until = $d' "$T/consent.json" >"$T/today.json"
CID5=$(record "$T/today.json")
RID5=$(submit "$CID5")
check "referral on a consent valid until today" test -n "$RID5" -a "$RID5" != null
stop_server
REFXD_TEST_CLOCK_OFFSET=$((2 * 86400))
export REFXD_TEST_CLOCK_OFFSET
check "refxd restarts two days later" start_server
unset REFXD_TEST_CLOCK_OFFSET
check "BUP's pull after expiry is refused" \
    test "$(pull_rc bjorn.akesson dalarna-bup "$RID5")" = 77
check "the refusal says expired" grep -q "expired" "$T/pull.out"
check "expired consent's recipient envelopes are gone" test "$(sqlite3 "$DB" \
    "SELECT count(*) FROM envelopes WHERE referral_id='$RID5'")" = 1
stop_server
check "refxd restarts at today's date" start_server

# --- report of concern: no consent, IFO only -----------------------------
jq '.basis = "report-of-concern" | .recipients = ["ludvika-ifo-intake"]' \
    "$T/draft.json" >"$T/concern.json"
as sara.lind --json referral submit "$T/concern.json" \
    --basis report-of-concern >"$T/oro.out" 2>&1
ORO=$(jq -r .id "$T/oro.out" 2>/dev/null)
check "report of concern to IFO accepted without consent" \
    test -n "$ORO" -a "$ORO" != null
as anna.berg --unit-key "$KEYS/ludvika-ifo-intake.key" --json referral pull \
    "$ORO" >"$T/oro.json" 2>&1
check "IFO reads the report of concern" test "$(jq -r .basis "$T/oro.json")" = report-of-concern
jq '.basis = "report-of-concern" | .recipients = ["dalarna-bup"]' \
    "$T/draft.json" >"$T/concern-bup.json"
as sara.lind referral submit "$T/concern-bup.json" \
    --basis report-of-concern >"$T/oro2.out" 2>&1
check "report of concern to BUP refused (rc=$?)" test $? != 0

# --- bad input files name the field --------------------------------------
jq '.fields.identity.personnummer = "20121015-1238"' "$T/draft.json" >"$T/bad.json"
as sara.lind referral submit "$T/bad.json" --consent "$CID3" >"$T/bad.out" 2>&1
rc=$?
check "bad personnummer: exit 65 (rc=$rc)" test "$rc" = 65
check "...naming the field" grep -q "identity.personnummer" "$T/bad.out"
jq '.fields.colour = "blue"' "$T/draft.json" >"$T/bad2.json"
as sara.lind referral submit "$T/bad2.json" --consent "$CID3" >"$T/bad.out" 2>&1
check "unknown field named" grep -q "colour" "$T/bad.out"
jq '.parties[0].decision = "maybe"' "$T/consent.json" >"$T/bad3.json"
as sara.lind consent record "$T/bad3.json" >"$T/bad.out" 2>&1
check "bad consent decision named" grep -q "parties\[0\].decision" "$T/bad.out"
n=$(sqlite3 "$DB" "SELECT count(*) FROM referrals")
check "nothing stored was lost after all the bad input ($n referrals)" \
    test "$n" -ge 7
finish
