#!/bin/sh
# Process lifecycle: root is dropped after binding, the database is in
# WAL mode with a schema version, a SIGTERM during requests lets them
# finish and exits 0, and the data survives a restart.
. "$(dirname "$0")/lib.sh"

check "PKI created" make_pki
write_config
check "refxd starts" start_server || { finish; exit 1; }
C="$T/pki/users/anna.berg.crt"
K="$T/pki/users/anna.berg.key"

uid=$(awk '/^Uid:/ { print $3 }' "/proc/$SERVER_PID/status")
if [ "$(id -u)" = 0 ]; then
	check "started as root, serving as nobody (euid $uid)" \
	    test "$uid" = "$(id -u nobody)"
else
	check "not root: runs as the invoking user (euid $uid)" \
	    test "$uid" = "$(id -u)"
fi
check "database is in WAL mode" \
    sh -c "test \"\$(sqlite3 $T/data/refx.db 'PRAGMA journal_mode;')\" = wal"
check "schema version table records migration 1" \
    sh -c "test \"\$(sqlite3 $T/data/refx.db \
    'SELECT max(version) FROM schema_version;')\" -ge 1"
check "server key still 0600" \
    test "$(stat -c %a "$T/pki/server.key")" = 600

# A burst of requests, then SIGTERM while they run: all get answers.
pids=""
for i in 1 2 3 4 5 6; do
	curl -s -o "$T/burst.$i" --max-time 15 --cacert "$T/pki/ca.crt" \
	    --cert "$C" --key "$K" "$(URL)/v1/whoami" "$(URL)/v1/health" \
	    "$(URL)/v1/directory" &
	pids="$pids $!"
done
sleep 0.2
stop_server
# shellcheck disable=SC2086
wait $pids
check "SIGTERM: exit 0" test "$SERVER_RC" = 0
check "SIGTERM: finished requests in flight" grep -q "finishing requests" "$T/refxd.log"

# Restart on the same database: migrations are not re-applied.
n1=$(grep -c "applied migration" "$T/refxd.log")
check "first start applied the migrations ($n1)" test "$n1" -ge 1
check "refxd restarts on its database" start_server
n2=$(grep -c "applied migration" "$T/refxd.log")
check "no migration re-applied on restart ($n2)" test "$n2" = 0
code=$(curl_as "$C" "$K" /v1/health)
check "healthy after restart ($code)" test "$code" = 200
stop_server
check "second stop: exit 0" test "$SERVER_RC" = 0
finish
