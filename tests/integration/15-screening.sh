#!/bin/sh
# refx screen at the school, with no settings, certificate or server: the
# real CLI on a seeded export built to reproduce Sandviken's 2009/2010 row
# and Borås pupils crossing at known month ends (refx-gen-attendance
# writes the export and what must be found in it); SKOLA24- and
# Dexter-shaped files through their mapping files; --aggregate; bad rows
# with line numbers; a 0600 draft that the real referral validation
# refuses until filled in and then accepts (the one part that starts a
# server: the preview needs the exchange's policy); the time of 100 000
# rows (printed, not asserted).
. "$(dirname "$0")/lib.sh"

GEN="$BIN/tests/tools/refx-gen-attendance"
EX="$ROOT/examples"
# No settings anywhere: screening must not need them.
REFX_CONFIG="$T/no-such-config.ini"
export REFX_CONFIG
screen() { "$REFX" screen "$@"; }
jqe() { jq -e "$@" >/dev/null; }

# row FILE.json: the school years as "YEAR PUPILS B0 B1 B2 B3" lines.
row() {
	jq -r '.school_years[] | [.school_year, .pupils, .under_10,
	    .["10_to_15"], .["15_to_20"], .over_20] | map(tostring) |
	    join(" ")' "$1"
}
# adds_up FILE.json: every year's bands add up to its pupils.
adds_up() {
	jq -e '.school_years | length > 0 and all(.[]; .pupils ==
	    .under_10 + .["10_to_15"] + .["15_to_20"] + .over_20)' "$1" \
	    >/dev/null
}
# flags FILE.json: "boras ID DATE" and "sandviken ID" lines, sorted.
flags() {
	jq -r '(.boras[] | "boras \(.pupil) \(.month_end)"),
	    (.sandviken[] | "sandviken \(.pupil)")' "$1" | sort
}

# --- the Sandviken 2009/2010 export -----------------------------------------
check "the generator writes the 2009/2010 export and its manifest" \
    "$GEN" --manifest "$T/manifest" -o "$T/export.csv"
check "...the same bytes again from the same seed" sh -c \
    "'$GEN' | cmp -s - '$T/export.csv'"
diag "export: $(wc -l <"$T/export.csv") lines"

screen --json "$T/export.csv" >"$T/out.json" 2>"$T/err"
rc=$?
check "screened with no settings, certificate or server (exit $rc)" \
    test $rc -eq 0 -a ! -s "$T/err"
check "Sandviken 2009/2010: 856 pupils, 670 / 69 / 38 / 79 ($(row "$T/out.json"))" \
    test "$(row "$T/out.json")" = "2009/2010 856 670 69 38 79"
check "...as the generator built it" \
    test "table $(row "$T/out.json")" = "$(grep '^table' "$T/manifest")"
check "bands add up to the pupils (2010/2011's 972 vs 968 cannot happen)" \
    adds_up "$T/out.json"
grep -e '^boras' -e '^sandviken' "$T/manifest" | sort >"$T/want-flags"
flags "$T/out.json" >"$T/got-flags"
check "Borås and Sandviken flag exactly the built pupils, Borås at the built month end" \
    cmp -s "$T/want-flags" "$T/got-flags"
cmp -s "$T/want-flags" "$T/got-flags" ||
    diff "$T/want-flags" "$T/got-flags" | head -10 | sed 's/^/# /'
for p in "BC1 2010-01-31" "BC2 2010-02-28" "BC3 2010-06-30" "BC4 2009-09-30"; do
	set -- $p
	check "$1 crosses exactly 15.0 % at $2" test "$(jq -r --arg p "$1" \
	    '.boras[] | select(.pupil == $p) | "\(.month_end) \(.absence_percent)"' \
	    "$T/out.json")" = "$2 15"
done
never=$(grep '^never' "$T/manifest" | cut -d' ' -f2 | tr '\n' ' ')
hits=0
for p in $never; do
	hits=$((hits + $(jq --arg p "$p" '[.boras[], .sandviken[] |
	    select(.pupil == $p)] | length' "$T/out.json")))
done
check "one minute under, never flagged ($never)" test "$hits" -eq 0 -a -n "$never"
check "exactly 20 % unexcused is not over 20 %; one minute more is" \
    test "$(jq -r '[.sandviken[].pupil | select(. == "B20" or . == "B20P")] |
    join(",")' "$T/out.json")" = "B20P"
check "Sandviken flags 79 pupils" \
    test "$(jq '.sandviken | length' "$T/out.json")" -eq 79

screen "$T/export.csv" >"$T/out.txt" 2>&1
check "the text table shows the row" \
    grep -Eq '^2009/2010 +856 +670 +69 +38 +79$' "$T/out.txt"
check "...and names the flagged pupils, as personal data" \
    sh -c "grep -q 'personal data' '$T/out.txt' && grep -q ' BC1 ' '$T/out.txt'"
check "standard input works too" sh -c \
    "'$REFX' screen --json - <'$T/export.csv' | cmp -s - '$T/out.json'"

# The same pupils in the assumed SKOLA24 and Dexter shapes.
for f in skola24 dexter; do
	"$GEN" --format "$f" -o "$T/export-$f.csv"
	screen --json --mapping "$EX/screen-$f.ini" "$T/export-$f.csv" \
	    >"$T/out-$f.json"
	check "$f shape via examples/screen-$f.ini: the same row" \
	    test "$(row "$T/out-$f.json")" = "2009/2010 856 670 69 38 79"
	flags "$T/out-$f.json" >"$T/got-$f"
	check "...and the same flags" cmp -s "$T/want-flags" "$T/got-$f"
done
check "Dexter's quoted \"Last, First\" names are read whole" \
    test "$(jq -r '.boras[] | select(.pupil == "BC1") | .name' \
    "$T/out-dexter.json")" = \
    "$(jq -r '.boras[] | select(.pupil == "BC1") | .name' "$T/out.json" |
    awk '{ print $2 ", " $1 }')"

# --- the shipped sample files -----------------------------------------------
screen --json --mapping "$EX/screen-skola24.ini" "$EX/screen-skola24.csv" \
    >"$T/s24.json"
check "examples/screen-skola24.csv (BOM, CRLF, ';', decimal comma): 3 pupils" \
    test "$(row "$T/s24.json")" = "2024/2025 3 2 0 0 1"
check "...S1002 flagged by both rules" test "$(flags "$T/s24.json" |
    tr '\n' ' ')" = "boras S1002 2024-08-31 sandviken S1002 "
screen --json --mapping "$EX/screen-dexter.ini" "$EX/screen-dexter.csv" \
    >"$T/dex.json"
check "examples/screen-dexter.csv (quoted, YYYYMMDD, Ja/Nej): 2 pupils" \
    test "$(row "$T/dex.json")" = "2024/2025 2 1 1 0 0"
check "...Lindström, Hugo flagged by Borås" test "$(jq -r \
    '.boras[] | select(.pupil == "D2002") | .name' "$T/dex.json")" = \
    "Lindström, Hugo"
screen "$EX/screen-skola24.csv" >/dev/null 2>"$T/nomap.err"
rc=$?
check "without its mapping, the SKOLA24 file is refused (exit $rc)" \
    sh -c "test $rc -eq 65 && grep -q \"screen-skola24.csv: line 1: the header has no column 'pupil_id'\" '$T/nomap.err'"

# --- --aggregate: shareable outside the school --------------------------------
screen --aggregate --mapping "$EX/screen-skola24.ini" \
    "$EX/screen-skola24.csv" >"$T/agg.txt" 2>&1
check "--aggregate shows each count under 5, zero too, as <5" \
    grep -Eq '^2024/2025 +<5 +<5 +<5 +<5 +<5$' "$T/agg.txt"
check "...and no pupil" sh -c "! grep -q -e S100 -e Åberg -e Flagged '$T/agg.txt'"
screen --json --aggregate --mapping "$EX/screen-skola24.ini" \
    "$EX/screen-skola24.csv" >"$T/agg.json"
check "--aggregate --json: \"<5\" cells, no pupil lists" jqe \
    '.school_years[0].pupils == "<5" and .school_years[0].over_20 == "<5" and
    (has("boras") | not) and (has("sandviken") | not)' "$T/agg.json"
screen --aggregate "$T/export.csv" >"$T/agg-big.txt" 2>&1
check "--aggregate of the large school: the counts as they are, no pupil" \
    sh -c "grep -Eq '^2009/2010 +856 +670 +69 +38 +79$' '$T/agg-big.txt' &&
    ! grep -q -e BC1 -e E0001 '$T/agg-big.txt'"

# --- the referral draft -------------------------------------------------------
(cd "$T" && "$REFX" screen "$T/export.csv" --draft BC1 >"$T/draft.out" 2>&1)
rc=$?
check "--draft BC1 writes draft-BC1.json (exit $rc)" \
    test $rc -eq 0 -a -f "$T/draft-BC1.json"
check "...mode 600" test "$(stat -c %a "$T/draft-BC1.json")" = 600
check "...and says it is personal data and what to fill in" \
    sh -c "grep -q 'personal data' '$T/draft.out' &&
    grep -q 'fields.identity.personnummer' '$T/draft.out'"
check "...with the pupil's absence over the period" jqe \
    '.fields.absence_stats | .period_start == "2009-08-17" and
    .period_end == "2010-06-10" and .unexcused_percent <= .absence_percent
    and .scheduled_minutes > 0' "$T/draft-BC1.json"
check "...and name and class from the export" test "$(jq -r \
    '.fields.identity.name + "/" + .fields.school.class' "$T/draft-BC1.json")" \
    = "$(jq -r '.boras[] | select(.pupil == "BC1") | .name + "/" + .class' \
    "$T/out.json")"
(cd "$T" && "$REFX" screen "$T/export.csv" --draft BC1 >/dev/null 2>&1)
check "not replaced without --force (exit 73)" test $? -eq 73
(cd "$T" && "$REFX" screen "$T/export.csv" --draft BC1 --force >/dev/null 2>&1)
check "replaced with --force" test $? -eq 0
screen "$T/export.csv" --draft NOBODY >/dev/null 2>"$T/nobody.err"
rc=$?
check "an unknown pupil: exit 65, said so (exit $rc)" \
    sh -c "test $rc -eq 65 && grep -q \"no pupil 'NOBODY'\" '$T/nobody.err'"
"$REFX" referral submit "$T/draft-BC1.json" \
    --consent 00000000000000000000000000000000 --preview \
    >/dev/null 2>"$T/unfilled.err"
rc=$?
check "refx referral submit refuses the draft as written (exit $rc)" \
    sh -c "test $rc -eq 65 && grep -q 'draft-BC1.json: recipients' '$T/unfilled.err'"
screen "$T/export.csv" --draft BC2 --output "$T/bc2.json" \
    --school "Marnässkolan" --recipient ludvika-ifo-intake \
    --recipient dalarna-bup >"$T/bc2.out" 2>&1
check "--school and --recipient fill those in" sh -c \
    "grep -q 'fill in before .*: fields.identity.personnummer, fields.referral_reason$' '$T/bc2.out'"
jq '.fields.identity.personnummer = "20120314-2847" |
    .fields.referral_reason = "Hög frånvaro under tre månader."' \
    "$T/bc2.json" >"$T/bc2-filled.json"

# The real preview: the exchange's policy and directory, a consent.
check "PKI created" make_pki
write_config
if start_server; then
	in30=$(date -u -d '+30 days' +%F)
	jq --arg d "$in30" '.valid_until = $d' "$EX/consent.json" \
	    >"$T/consent.json"
	CID=$(as sara.lind --json consent record "$T/consent.json" | jq -r .id)
	as sara.lind referral submit "$T/bc2-filled.json" --consent "$CID" \
	    --preview >"$T/preview.out" 2>&1
	rc=$?
	check "the filled-in draft passes refx referral submit --preview (exit $rc)" \
	    test $rc -eq 0
	check "...each recipient can read the absence statistics" test \
	    "$(grep -c 'can read: .*absence_stats' "$T/preview.out")" -eq 2
	stop_server
else
	not_ok "refxd starts"
fi

# --- bad rows -----------------------------------------------------------------
{
	echo "pupil_id,name,class,date,scheduled_minutes,absent_minutes,absence_type"
	echo "A,Ann Ek,7A,2009-09-01,300,30,valid"		# 2
	echo "A,Ann Ek,7A,2009-09-02,300,-5,valid"		# 3
	echo "A,Ann Ek,7A,2009-09-02,300,301,unexcused"	# 4
	echo "B,Bo Ek,7A,2009-09-03,300,0,"			# 5
	echo "B,Bo Ek,7A,2009-09-01,300,0,"			# 6
	echo "B,Bo Ek,7A,2009-13-01,300,0,"			# 7
	printf 'B,Bo \377k,7A,2009-09-04,300,0,\n'		# 8
	echo "B,Bo Ek,7A,2009-09-04,300"			# 9
	echo "B,Bo Ek,7A,2009-09-05,300,60,unexcused"		# 10
} >"$T/bad.csv"
screen "$T/bad.csv" >"$T/bad.out" 2>"$T/bad.err"
rc=$?
check "bad rows: exit 65 by default, nothing screened (exit $rc)" \
    test $rc -eq 65 -a ! -s "$T/bad.out"
for l in "3:.*negative" "4:.*more than the scheduled" \
    "6:.*before this pupil's row on line 5" "7:.*not a date" \
    "8:.*UTF-8" "9:.*5 columns, but the header has 7"; do
	check "reported with its line: bad.csv:$l" \
	    grep -q "bad.csv:$l" "$T/bad.err"
done
screen --on-error=fail "$T/bad.csv" >/dev/null 2>&1
check "--on-error=fail exits 65" test $? -eq 65
screen --json --on-error=skip "$T/bad.csv" >"$T/skip.json" 2>"$T/skip.err"
rc=$?
check "--on-error=skip: exit 0, the 6 bad rows still reported and counted" \
    sh -c "test $rc -eq 0 && test \$(grep -c 'bad.csv:[0-9]*:' '$T/skip.err') -eq 6 &&
    jq -e '.bad_rows == 6 and .counted_rows == 3' '$T/skip.json' >/dev/null"
check "...the table from the good rows only (A 0 %, B 10 %)" \
    test "$(row "$T/skip.json")" = "2009/2010 2 1 1 0 0"
echo "pupil_id,name,class,date,scheduled_minutes,absence_type" >"$T/nohdr.csv"
screen "$T/nohdr.csv" >/dev/null 2>"$T/nohdr.err"
rc=$?
check "a header without a column: exit 65 naming it (exit $rc)" sh -c \
    "test $rc -eq 65 && grep -q \"line 1: the header has no column 'absent_minutes'\" '$T/nohdr.err'"

# Hostile files: bounded, and never silent.
{
	head -2 "$T/bad.csv"
	printf 'C,%s,7A,2009-09-09,300,0,\n' "$(head -c 100000 /dev/zero | tr '\0' x)"
	echo "D,Dan,7A,2009-09-09,300,0,"
} >"$T/long.csv"
screen "$T/long.csv" >/dev/null 2>"$T/long.err"
check "a 100 kB line: one bad row at line 3" \
    grep -q 'long.csv:3: the line is longer than 4096 bytes' "$T/long.err"
head -c 1000000 /dev/urandom >"$T/random.bin"
screen "$T/random.bin" >/dev/null 2>&1
check "random bytes: refused (exit 65)" test $? -eq 65
screen "$T/no-such.csv" >/dev/null 2>&1
check "a missing file: exit 66" test $? -eq 66
screen "$T" >/dev/null 2>&1
check "a directory: exit 66" test $? -eq 66
printf '[columns]\npupil_id = Id\ncolour = blue\n' >"$T/bad.ini"
screen --mapping "$T/bad.ini" "$T/export.csv" >/dev/null 2>"$T/ini.err"
rc=$?
check "a bad mapping: exit 78 with file and line (exit $rc)" \
    sh -c "test $rc -eq 78 && grep -q 'bad.ini:3: unknown key' '$T/ini.err'"
screen --on-error=maybe "$T/export.csv" >/dev/null 2>&1
check "--on-error=maybe: exit 64" test $? -eq 64
screen --boras-percent 0 "$T/export.csv" >/dev/null 2>&1
check "--boras-percent 0: exit 64" test $? -eq 64
screen --output x.json "$T/export.csv" >/dev/null 2>&1
check "--output without --draft: exit 64" test $? -eq 64

# --- no network at all --------------------------------------------------------
if unshare -n true 2>/dev/null; then
	check "in a network namespace without any network, the same row" sh -c \
	    "unshare -n '$REFX' screen --json '$T/export.csv' | cmp -s - '$T/out.json'"
else
	diag "unshare -n unavailable: no-network run skipped"
fi

# --- thresholds and the window ---------------------------------------------
screen --json --boras-percent 100 --sandviken-percent 100 "$T/export.csv" \
    >"$T/strict.json"
check "--boras-percent and --sandviken-percent 100: nobody flagged" jqe \
    '(.boras | length) == 0 and (.sandviken | length) == 0' "$T/strict.json"
screen --json --from 2010-01-01 --to 2010-01-31 "$T/export.csv" \
    >"$T/jan.json"
check "--from/--to: January 2010 alone" jqe \
    '.first_date == "2010-01-11" and .last_date == "2010-01-29"' "$T/jan.json"
check "...the bands add up" adds_up "$T/jan.json"
check "...B15 crosses at 2010-01-31; BC1 not, its November left out" test \
    "$(jq -r '[.boras[] | select(.pupil == "B15" or .pupil == "BC1") |
    .pupil + " " + .month_end] | join(",")' "$T/jan.json")" = "B15 2010-01-31"

# --- progress on a terminal, and speed -----------------------------------------
"$GEN" --rows 100000 -o "$T/perf.csv"
check "the 100 000-row export" test "$(wc -l <"$T/perf.csv")" -eq 100001
script -qec "'$REFX' screen '$T/perf.csv'" /dev/null >"$T/tty.out" 2>&1
check "on a terminal, a progress bar" grep -q 'screening KiB [0-9]*/[0-9]* \[' \
    "$T/tty.out"
screen "$T/perf.csv" >"$T/pipe.out" 2>&1
check "in a pipe, none" sh -c "! grep -q 'screening KiB' '$T/pipe.out'"
t0=$(date +%s%N)
screen "$T/perf.csv" >/dev/null 2>&1
rc=$?
t1=$(date +%s%N)
check "100 000 rows screened (exit $rc)" test $rc -eq 0
diag "100 000 rows ($(wc -c <"$T/perf.csv") bytes) screened in $(( (t1 - t0) / 1000000 )) ms"

finish
