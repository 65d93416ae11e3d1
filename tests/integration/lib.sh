# lib.sh: shared set-up for the integration scenarios (sourced).
#
# Each scenario builds a throwaway PKI with refx-pki, starts refxd on
# 127.0.0.1 and drives it with the real refx CLI (and curl/openssl for
# what the CLI deliberately cannot do, like offering TLS 1.2).  Every
# wait is a bounded loop; the server is killed on exit.

set -u
BUILD=${BUILD:-build}
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN="$ROOT/$BUILD"
REFXD="$BIN/refxd"
REFX="$BIN/refx"
PKI="$BIN/refx-pki"

T=$(mktemp -d /tmp/refx-test.XXXXXX)
# refxd drops to 'nobody' when run as root: it must reach its files.
chmod 755 "$T"
# The CLI's own state (CRL numbers seen, audit checkpoints) stays here.
XDG_STATE_HOME="$T/state"
export XDG_STATE_HOME
SERVER_PID=""
NCHECK=0
NFAIL=0

cleanup() {
	if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -TERM "$SERVER_PID" 2>/dev/null
		i=0
		while kill -0 "$SERVER_PID" 2>/dev/null && [ $i -lt 100 ]; do
			sleep 0.1; i=$((i + 1))
		done
		kill -KILL "$SERVER_PID" 2>/dev/null
	fi
	if [ "$NFAIL" -ne 0 ] && [ -f "$T/refxd.log" ]; then
		echo "# --- refxd.log (last 40 lines) ---"
		tail -40 "$T/refxd.log" | sed 's/^/# /'
	fi
	[ -n "${KEEP_TMP:-}" ] && echo "# kept $T" || rm -rf "$T"
}
trap cleanup EXIT

ok() { NCHECK=$((NCHECK + 1)); echo "ok $NCHECK - $*"; }
not_ok() { NCHECK=$((NCHECK + 1)); NFAIL=$((NFAIL + 1)); echo "not ok $NCHECK - $*"; }
# check DESCRIPTION COMMAND...: ok if the command succeeds.
check() { d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
diag() { echo "# $*"; }

# pki ARGS...: run refx-pki on the test PKI.
pki() { "$PKI" -d "$T/pki" "$@"; }

# make_pki: the exchange of the demo: a school, IFO, BUP and an auditor.
make_pki() {
	pki init --name "Test exchange" >/dev/null &&
	pki server >/dev/null &&
	pki agency add ludvika-school-1 --kind school \
	    --name "Ludvika kommun, Marnässkolan" >/dev/null &&
	pki agency add ludvika-ifo-intake --kind ifo \
	    --name "Ludvika kommun, IFO mottagning" >/dev/null &&
	pki agency add dalarna-bup --kind bup \
	    --name "Region Dalarna, BUP" >/dev/null &&
	pki user add --agency ludvika-school-1 --role submitter \
	    --name "Sara Lind" --id sara.lind >/dev/null &&
	pki user add --agency ludvika-ifo-intake --role caseworker \
	    --name "Anna Berg" --id anna.berg >/dev/null &&
	pki user add --agency dalarna-bup --role caseworker \
	    --name "Björn Åkesson" --id bjorn.akesson >/dev/null &&
	pki user add --agency ludvika-ifo-intake --role auditor \
	    --name "Karin Ek" --id karin.ek >/dev/null
}

# write_config [EXTRA-INI-LINES]: refxd.ini for this test.
write_config() {
	PORT=${PORT:-$((20000 + $$ % 20000))}
	cat >"$T/refxd.ini" <<INI
[server]
listen = 127.0.0.1
port = $PORT
user = nobody
threads = 4

[tls]
certificate = $T/pki/server.crt
key = $T/pki/server.key
ca = $T/pki/ca.crt
crl = $T/pki/crl.pem

[storage]
database = $T/data/refx.db

[directory]
units = $T/pki/directory.pem

[policy]
file = ${POLICY:-$ROOT/etc/policy.json}

[audit]
keys = $T/pki/audit
checkpoint_interval = 1

[limits]
connections = 64
connections_per_ip = 32
idle_timeout = 10
header_memory = 32768
max_body = 65536
INI
	mkdir -p "$T/data"
	chmod 755 "$T/pki" 2>/dev/null
	chmod 644 "$T/pki/crl.pem" "$T/pki/ca.crt" "$T/pki/directory.pem" \
	    2>/dev/null
}

# start_server: start refxd and wait (bounded) until it listens.
start_server() {
	: >"$T/refxd.log"
	tries=0
	while [ $tries -lt 5 ]; do
		"$REFXD" -c "$T/refxd.ini" >>"$T/refxd.log" 2>&1 &
		SERVER_PID=$!
		i=0
		while [ $i -lt 150 ]; do
			if grep -q "listening on" "$T/refxd.log"; then
				return 0
			fi
			kill -0 "$SERVER_PID" 2>/dev/null || break
			sleep 0.1; i=$((i + 1))
		done
		# Port taken by someone else: try another.
		kill -KILL "$SERVER_PID" 2>/dev/null
		wait "$SERVER_PID" 2>/dev/null
		SERVER_PID=""
		grep -q "cannot listen" "$T/refxd.log" || break
		PORT=$((PORT + 1))
		sed -i "s/^port = .*/port = $PORT/" "$T/refxd.ini"
		tries=$((tries + 1))
	done
	echo "# refxd did not start:"; sed 's/^/# /' "$T/refxd.log"
	return 1
}

# stop_server: SIGTERM and wait (bounded); sets SERVER_RC.
stop_server() {
	kill -TERM "$SERVER_PID"
	i=0
	while kill -0 "$SERVER_PID" 2>/dev/null && [ $i -lt 150 ]; do
		sleep 0.1; i=$((i + 1))
	done
	wait "$SERVER_PID"
	SERVER_RC=$?
	SERVER_PID=""
}

URL() { echo "https://localhost:$PORT"; }

# as PERSON refx-args...: run the refx CLI with that person's credentials.
as() {
	p=$1; shift
	REFX_CONFIG="$T/no-such-config.ini" "$REFX" --server "$(URL)" --ca "$T/pki/ca.crt" \
	    --cert "$T/pki/users/$p.crt" --key "$T/pki/users/$p.key" "$@"
}

# curl_as CERT KEY PATH [curl args]: print the HTTP status (000 = none).
curl_as() {
	c=$1; k=$2; p=$3; shift 3
	curl -s -o "$T/curl.out" -w '%{http_code}' --max-time 10 \
	    --cacert "$T/pki/ca.crt" --cert "$c" --key "$k" "$@" "$(URL)$p"
}

# handled: how many requests reached a handler (from the server's log).
handled() { grep -c ' req [0-9a-f]\{32\} ' "$T/refxd.log"; }

finish() {
	echo "# $NCHECK checks, $NFAIL failed"
	[ "$NFAIL" -eq 0 ]
}
