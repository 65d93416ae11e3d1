#!/bin/sh
# run.sh: run every unit test binary and integration scenario, keep
# cmocka's summaries, and end with one line "N passed, N failed".
#
#   BUILD=build ./tests/run.sh          (make check)
#   BUILD=build-san ./tests/run.sh      (make sanitize)
#   ONLY=02 ./tests/run.sh              (integration scenarios matching)
set -u
BUILD=${BUILD:-build}
export BUILD
passed=0
failed=0
failures=""
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Sanitizer builds: stop at the first report, with a useful trace.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0}

if [ -z "${ONLY:-}" ]; then
	echo "== unit tests ($BUILD)"
	# The list make builds (a stale binary of a removed test never
	# runs); by hand, every test binary there is.
	list=""
	for n in ${UNIT_TESTS:-}; do list="$list $BUILD/tests/$n"; done
	[ -n "$list" ] || list=$(ls "$BUILD"/tests/test_* 2>/dev/null)
	for t in $list; do
		if [ ! -x "$t" ]; then
			echo "not built: $t"
			failed=$((failed + 1))
			failures="$failures $(basename "$t")"
			continue
		fi
		name=$(basename "$t")
		"$t" >"$log" 2>&1
		rc=$?
		cat "$log"
		p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
		f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
		p=${p:-0}
		f=${f:-0}
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			# Crashed or sanitizer report: count the binary as failed.
			f=1
		fi
		passed=$((passed + p))
		failed=$((failed + f))
		[ "$f" -eq 0 ] || failures="$failures $name"
	done
fi

echo "== integration tests ($BUILD)"
for s in tests/integration/[0-9][0-9]-*.sh; do
	name=$(basename "$s" .sh)
	case "$name" in *"${ONLY:-}"*) ;; *) continue ;; esac
	echo "-- $name"
	# Bounded: a scenario that hangs fails instead of stalling CI.
	timeout 900 sh "$s" >"$log" 2>&1
	rc=$?
	cat "$log"
	p=$(grep -c '^ok ' "$log")
	f=$(grep -c '^not ok ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $name exited $rc"
		f=1
	fi
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $name ran no check"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$f" -eq 0 ] || failures="$failures $name"
done

[ -z "$failures" ] || echo "failed in:$failures"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
