#!/bin/sh
# SIGKILL during a write loop, many rounds: no acknowledged request loses
# its audit entry, the database stays intact, and the log still verifies.
. "$(dirname "$0")/lib.sh"

check "PKI created" make_pki
write_config
check "refxd starts" start_server || { finish; exit 1; }
U="$T/pki/users"
DB="$T/data/refx.db"
ROUNDS=${CRASH_ROUNDS:-8}

size() {
	sqlite3 "$DB" "SELECT coalesce((SELECT size FROM audit_logs WHERE
	    unit = 'ludvika-ifo-intake'), 0)"
}
lost=0
acked_total=0
r=1
while [ $r -le "$ROUNDS" ]; do
	before=$(size)
	: >"$T/acks"
	# A bounded write loop: at most 400 requests, stops on failure.
	( n=0; while [ $n -lt 400 ]; do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
		    --cacert "$T/pki/ca.crt" --cert "$U/anna.berg.crt" \
		    --key "$U/anna.berg.key" "$(URL)/v1/whoami") || break
		[ "$code" = 200 ] || break
		echo ok >>"$T/acks"
		n=$((n + 1))
	done ) &
	loop=$!
	sleep "0.$((3 + r % 6))"
	kill -KILL "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null
	SERVER_PID=""
	wait "$loop"
	acked=$(wc -l <"$T/acks")
	acked_total=$((acked_total + acked))
	start_server >/dev/null || { not_ok "restart after round $r"; break; }
	after=$(size)
	if [ $((after - before)) -lt "$acked" ]; then
		lost=$((lost + 1))
		diag "round $r: $acked acknowledged, only $((after - before)) entries"
	fi
	r=$((r + 1))
done
check "no acknowledged entry lost in $ROUNDS rounds ($acked_total acknowledged)" \
    test "$lost" = 0
check "some requests were acknowledged at all" test "$acked_total" -gt 0
check "database integrity after the crashes" \
    test "$(sqlite3 "$DB" 'PRAGMA integrity_check')" = ok
check "never two checkpoints for one size" test "$(sqlite3 "$DB" \
    'SELECT count(*) FROM (SELECT log_id, size FROM audit_checkpoints
    GROUP BY log_id, size HAVING count(*) > 1)')" = 0
i=0
while [ $i -lt 50 ] && [ "$(sqlite3 "$DB" "SELECT count(*) FROM
    audit_checkpoints c JOIN audit_logs l ON l.id = c.log_id WHERE
    l.unit = 'ludvika-ifo-intake' AND c.size = l.size")" != 1 ]; do
	sleep 0.2; i=$((i + 1))
done
as karin.ek audit verify --state-dir "$T/state" >"$T/v.out" 2>&1
check "the IFO log still verifies after the crashes (rc=$?)" \
    grep -q OK "$T/v.out"
stop_server
finish
