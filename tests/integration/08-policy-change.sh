#!/bin/sh
# The redaction follows the policy file: with a stricter policy (BUP may
# never receive diagnoses, IFO never the home situation), the server
# announces the new policy, the client withholds those classes, each
# recipient reads exactly the new policy ∩ consent, and a hand-crafted
# submit that follows the old policy is refused.
. "$(dirname "$0")/lib.sh"

check "PKI created" make_pki
POLICY="$T/policy.json"
jq '.version = "test-strict"
    | .rules.diagnoses.bup = {"rule": "never", "ref": "test: stricter policy"}
    | .rules.home_situation.ifo = {"rule": "never", "ref": "test: stricter policy"}' \
    "$ROOT/etc/policy.json" >"$POLICY"
write_config
check "refxd starts with the stricter policy" start_server || { finish; exit 1; }
U="$T/pki/users"
KEYS="$T/pki/units"
in30=$(date -u -d '+30 days' +%F)

hash=$(sha256sum "$POLICY" | cut -d' ' -f1)
check "refxd logs the policy's hash" grep -q "policy test-strict sha256:$hash" \
    "$T/refxd.log"
as anna.berg --json policy show >"$T/p.json" 2>&1
check "refx policy show reports the policy in force" \
    test "$(jq -r .hash "$T/p.json")" = "$hash"
as anna.berg policy show >"$T/p.txt" 2>&1
check "the human table shows the legal references" \
    grep -q "stricter policy" "$T/p.txt"

jq '.fields.diagnoses = ["CANARY-DIAGNOSIS"] | .fields.home_situation = "CANARY-HOME"' \
    "$ROOT/examples/referral-draft.json" >"$T/draft.json"
jq --arg d "$in30" '.valid_until = $d
    | .recipients[0].classes += ["diagnoses"] | .recipients[0].itemised += ["diagnoses"]
    | .recipients[1].classes += ["home_situation"]' \
    "$ROOT/examples/consent.json" >"$T/consent.json"
CID=$(as sara.lind --json consent record "$T/consent.json" | jq -r .id)
as sara.lind referral submit "$T/draft.json" --consent "$CID" --preview \
    >"$T/preview.out" 2>&1
check "preview shows diagnoses withheld from BUP by the policy" \
    grep -q "stricter policy" "$T/preview.out"
RID=$(as sara.lind --json referral submit "$T/draft.json" --consent "$CID" |
    jq -r .id)
check "referral submitted" test -n "$RID" -a "$RID" != null

expected() { # expected KIND UNIT
	jq -r --arg k "$1" --arg u "$2" --slurpfile c "$T/consent.json" '
	  ($c[0].recipients[] | select(.unit == $u)) as $s
	  | .rules | to_entries[] | .key as $cls
	  | select((.value[$k].rule == "consent" and ($s.classes | index($cls)))
	        or (.value[$k].rule == "itemised" and ($s.itemised | index($cls))))
	  | $cls' "$POLICY" | sort | tr '\n' ' '
}
for who in anna.berg:ludvika-ifo-intake:ifo bjorn.akesson:dalarna-bup:bup; do
	p=${who%%:*}; rest=${who#*:}; unit=${rest%%:*}; kind=${rest#*:}
	as "$p" --unit-key "$KEYS/$unit.key" --json referral pull "$RID" \
	    >"$T/$kind.json" 2>&1
	got=$(jq -r '.fields | keys[]' "$T/$kind.json" | sort | tr '\n' ' ')
	check "$kind reads exactly the new policy ∩ consent [$got]" \
	    test "$got" = "$(expected "$kind" "$unit")"
done
check "BUP no longer receives diagnoses" \
    sh -c "! grep -q CANARY-DIAGNOSIS $T/bup.json"
check "IFO no longer receives the home situation" \
    sh -c "! grep -q CANARY-HOME $T/ifo.json"

# A client following the old policy is refused by the server.
curl_as "$U/anna.berg.crt" "$U/anna.berg.key" /v1/directory >/dev/null
cp "$T/curl.out" "$T/directory.json"
"$BIN/tests/tools/refx-craft" --draft "$T/draft.json" --consent "$CID" \
    --me-unit ludvika-school-1 --me-person sara.lind \
    --cert "$U/sara.lind.crt" --key "$U/sara.lind.key" \
    --directory "$T/directory.json" --policy-hash "$hash" \
    --envelope dalarna-bup=identity,diagnoses \
    --envelope ludvika-ifo-intake=identity >"$T/old.json"
code=$(curl -s -o "$T/post.out" -w '%{http_code}' --cacert "$T/pki/ca.crt" \
    --cert "$U/sara.lind.crt" --key "$U/sara.lind.key" \
    -H 'Content-Type: application/json' --data-binary @"$T/old.json" \
    "$(URL)/v1/referrals")
check "server refuses diagnoses to BUP under the new policy ($code)" \
    test "$code" = 403
check "...citing the new rule" grep -q "stricter policy" "$T/post.out"
finish
