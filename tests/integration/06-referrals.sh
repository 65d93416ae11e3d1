#!/bin/sh
# Consent-gated, end-to-end encrypted referrals with per-unit redaction:
# what each recipient can read is exactly policy ∩ consent, the server
# holds ciphertext only, tampering is caught, withdrawal and expiry take
# effect at once, and each role gets only its part.
. "$(dirname "$0")/lib.sh"

check "PKI created" make_pki
pki user add --agency ludvika-school-1 --role auditor --name "Olle Revisor" \
    --id olle.revisor >/dev/null
write_config
check "refxd starts" start_server || { finish; exit 1; }
U="$T/pki/users"
KEYS="$T/pki/units"
DB="$T/data/refx.db"
in30=$(date -u -d '+30 days' +%F)

# A draft with a canary string in every class, to find leaks.
cat >"$T/draft.json" <<JSON
{"schema": "refx-referral-1", "basis": "consent",
 "recipients": ["ludvika-ifo-intake", "dalarna-bup"],
 "fields": {
  "identity": {"name": "Canary Identityname", "personnummer": "20121015-1237"},
  "school": {"school": "Canaryskolan", "class": "6B"},
  "absence_stats": {"period_start": "2026-08-18", "period_end": "2026-11-20",
                    "absence_percent": 34.5, "unexcused_percent": 22.0},
  "absence_pattern": "CANARY-PATTERN mondays and after PE",
  "guardian_contacts": [{"name": "CANARY-GUARDIAN Maria", "relation": "mother",
                         "phone": "070-000 00 00", "custody": true}],
  "pedagogical_assessment": "CANARY-PEDAGOGY reads well below grade",
  "emi_medical": "CANARY-EMI headaches reported to the school nurse",
  "psychological_assessment": "CANARY-PSYCH anxiety screening positive",
  "diagnoses": ["CANARY-DIAGNOSIS ADHD"],
  "home_situation": "CANARY-HOME parents separated in spring",
  "prior_interventions": "CANARY-INTERVENTIONS extra adjustments since August",
  "pupil_view": "CANARY-VOICE wants to come back to school part time",
  "referral_reason": "CANARY-REASON absence rising for three months"}}
JSON
# Consent: IFO gets the social classes, BUP the health ones (itemised);
# EMI notes are covered for nobody.
jq --arg d "$in30" '.valid_until = $d' "$ROOT/examples/consent.json" \
    >"$T/consent.json"

as sara.lind --json consent record "$T/consent.json" >"$T/c.out" 2>&1
CID=$(jq -r .id "$T/c.out" 2>/dev/null)
check "consent recorded ($CID)" test -n "$CID" -a "$CID" != null
check "consent is valid" test "$(jq -r .valid "$T/c.out")" = true
check "guardian names are not stored in clear" \
    sh -c "! sqlite3 $DB .dump | grep -q 'Maria Svensson'"

# Preview: per recipient, what it will be able to read; nothing is sent.
before=$(sqlite3 "$DB" 'SELECT count(*) FROM referrals')
as sara.lind referral submit "$T/draft.json" --consent "$CID" --preview \
    >"$T/preview.out" 2>&1
check "preview succeeds" test $? = 0
check "preview sends nothing" \
    test "$(sqlite3 "$DB" 'SELECT count(*) FROM referrals')" = "$before"
as sara.lind -v referral submit "$T/draft.json" --consent "$CID" --preview \
    >"$T/preview-v.out" 2>&1
check "one TLS connection serves all of a command's requests" \
    test "$(grep -c 'new connection' "$T/preview-v.out")" = 1 -a \
    "$(grep -c 'reused connection' "$T/preview-v.out")" -ge 2
check "preview names the recipients" \
    sh -c "grep -q dalarna-bup $T/preview.out && grep -q ludvika-ifo-intake $T/preview.out"

as sara.lind --json referral submit "$T/draft.json" --consent "$CID" \
    >"$T/s.out" 2>&1
RID=$(jq -r .id "$T/s.out" 2>/dev/null)
check "referral submitted ($RID)" test -n "$RID" -a "$RID" != null

# The server and anyone who steals its database see ciphertext only.
sqlite3 "$DB" .dump >"$T/dump.sql"
leaks=$(grep -o 'CANARY-[A-Z]*\|Canary Identityname\|Canaryskolan\|20121015-1237' \
    "$T/dump.sql" "$T/refxd.log" | sort -u | tr '\n' ' ')
check "no submitted value in the database dump or the log ($leaks)" \
    test -z "$leaks"

# Each recipient decrypts exactly policy ∩ consent for its kind.
pull() { # pull PERSON UNIT -> fields JSON on stdout
	as "$1" --unit-key "$KEYS/$2.key" --json referral pull "$RID"
}
expected() { # expected KIND UNIT -> sorted class names
	jq -r --arg k "$1" --arg u "$2" --slurpfile c "$T/consent.json" '
	  ($c[0].recipients[] | select(.unit == $u)) as $s
	  | .rules | to_entries[] | .key as $cls
	  | select((.value[$k].rule == "consent" and ($s.classes | index($cls)))
	        or (.value[$k].rule == "itemised" and ($s.itemised | index($cls))))
	  | $cls' "${POLICY:-$ROOT/etc/policy.json}" | sort | tr '\n' ' '
}
pull anna.berg ludvika-ifo-intake >"$T/ifo.json" 2>"$T/ifo.err"
check "IFO caseworker pulls and decrypts (rc=$?)" test -s "$T/ifo.json"
got=$(jq -r '.fields | keys[]' "$T/ifo.json" | sort | tr '\n' ' ')
want=$(expected ifo ludvika-ifo-intake)
check "IFO reads exactly policy ∩ consent [$got]" test "$got" = "$want"
check "IFO sees the home situation it was given" \
    grep -q CANARY-HOME "$T/ifo.json"
check "IFO does not see diagnoses, psychology or EMI notes" \
    sh -c "! grep -q 'CANARY-DIAGNOSIS\|CANARY-PSYCH\|CANARY-EMI' $T/ifo.json"

pull bjorn.akesson dalarna-bup >"$T/bup.json" 2>"$T/bup.err"
check "BUP caseworker pulls and decrypts" test -s "$T/bup.json"
got=$(jq -r '.fields | keys[]' "$T/bup.json" | sort | tr '\n' ' ')
want=$(expected bup dalarna-bup)
check "BUP reads exactly policy ∩ consent [$got]" test "$got" = "$want"
check "BUP sees the itemised diagnoses" grep -q CANARY-DIAGNOSIS "$T/bup.json"
check "BUP does not see the home situation or EMI notes" \
    sh -c "! grep -q 'CANARY-HOME\|CANARY-EMI' $T/bup.json"

# The server sends each unit only its own envelope and fields.
code=$(curl_as "$U/bjorn.akesson.crt" "$U/bjorn.akesson.key" \
    "/v1/referrals/$RID")
n=$(jq '.fields | length' "$T/curl.out")
check "server sends BUP only its $n field blobs" \
    test "$n" = "$(echo "$want" | wc -w)"
check "server sends BUP only its own envelope" \
    test "$(jq -r .envelope.recipient "$T/curl.out")" = dalarna-bup

# Roles.
as anna.berg referral submit "$T/draft.json" --consent "$CID" \
    >"$T/r.out" 2>&1
check "a caseworker cannot submit (rc=$?)" test $? != 0
as karin.ek --unit-key "$KEYS/ludvika-ifo-intake.key" referral pull "$RID" \
    >"$T/r.out" 2>&1
check "an auditor cannot pull content (rc=$?)" test $? = 77
as sara.lind --unit-key "$KEYS/ludvika-ifo-intake.key" referral pull "$RID" \
    >"$T/r.out" 2>&1
check "a school submitter cannot open IFO's packet (rc=$?)" test $? != 0
check "...and sees none of it" sh -c "! grep -q CANARY $T/r.out"
as sara.lind --unit-key "$KEYS/ludvika-school-1.key" --json referral pull \
    "$RID" >"$T/own.json" 2>&1
check "the school reads its own full copy" grep -q CANARY-EMI "$T/own.json"

# A referral addressed only to BUP is invisible to IFO.
jq '.recipients = ["dalarna-bup"]' "$T/draft.json" >"$T/bup-only.json"
as sara.lind --json referral submit "$T/bup-only.json" --consent "$CID" \
    >"$T/s2.out" 2>&1
RID2=$(jq -r .id "$T/s2.out" 2>/dev/null)
check "BUP-only referral submitted" test -n "$RID2" -a "$RID2" != null
as anna.berg --unit-key "$KEYS/ludvika-ifo-intake.key" referral pull "$RID2" \
    >"$T/r.out" 2>&1
check "IFO cannot pull a referral addressed only to BUP (rc=$?)" test $? = 65

# A passphrase-protected unit key works, and only with its passphrase.
printf 'correct horse battery staple\n' >"$T/pass"
printf 'wrong\n' >"$T/wrong"
chmod 600 "$T/pass" "$T/wrong"
as anna.berg key protect "$KEYS/ludvika-ifo-intake.key" "$T/ifo-protected.key" \
    --passphrase-file "$T/pass" --unit ludvika-ifo-intake >/dev/null 2>&1
check "unit key protected, file is 0600" \
    test "$(stat -c %a "$T/ifo-protected.key" 2>/dev/null)" = 600
check "protected file holds no PEM private key" \
    sh -c "! grep -q 'PRIVATE KEY' $T/ifo-protected.key"
as anna.berg --unit-key "$T/ifo-protected.key" --unit-passphrase-file "$T/pass" \
    --json referral pull "$RID" >"$T/prot.json" 2>&1
check "pull with the protected unit key" grep -q CANARY-HOME "$T/prot.json"
as anna.berg --unit-key "$T/ifo-protected.key" --unit-passphrase-file \
    "$T/wrong" referral pull "$RID" >"$T/prot.out" 2>&1
check "wrong passphrase refused, nothing shown (rc=$?)" \
    sh -c "! grep -q CANARY $T/prot.out && grep -qi passphrase $T/prot.out"
chmod 644 "$KEYS/dalarna-bup.key"
as bjorn.akesson --unit-key "$KEYS/dalarna-bup.key" referral pull "$RID" \
    >"$T/perm.out" 2>&1
check "a unit key readable by others is refused (rc=$?)" \
    sh -c "grep -q 'chmod 600' $T/perm.out && ! grep -q CANARY $T/perm.out"
chmod 600 "$KEYS/dalarna-bup.key"

# Consent lists: the owner and the recipients see it, others do not.
as sara.lind --json consent list >"$T/cl.json" 2>&1
check "the school lists its consent" grep -q "$CID" "$T/cl.json"
as bjorn.akesson --json consent list >"$T/cl.json" 2>&1
check "a named recipient lists it" grep -q "$CID" "$T/cl.json"
pki agency add falun-school --kind school --name "Falu kommun, Skola" >/dev/null
pki user add --agency falun-school --role submitter --name "Per Falk" \
    --id per.falk >/dev/null
as per.falk --json consent list >"$T/cl.json" 2>&1
check "another school does not see it" sh -c "! grep -q $CID $T/cl.json"
as per.falk consent show "$CID" >"$T/cl.out" 2>&1
check "...nor can show it (rc=$?)" test $? = 65

# Inbox: no personal data.
as anna.berg --json referral list >"$T/list.json" 2>&1
check "IFO inbox lists the referral" grep -q "$RID" "$T/list.json"
check "IFO inbox does not list the BUP-only one" \
    sh -c "! grep -q $RID2 $T/list.json"
check "inbox holds no personal data" sh -c "! grep -qi canary $T/list.json"

finish
