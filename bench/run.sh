#!/bin/sh
# bench/run.sh [--quick] [--profile]: the refx benchmark (make bench).
#
# Makes a throwaway PKI with refx-pki, starts refxd and nginx on
# 127.0.0.1 (nginx: TLS 1.3 only, ssl_verify_client on with the same CA
# and CRL, a small static JSON body on every path), runs each workload
# against both in turn with bench/refx-load, then the growth workloads
# against refxd alone on a database seeded by bench/refx-seed, and prints
# one table with the targets of issue #6 marked PASS or MISS.
#
# Correctness is checked as it goes: no request may fail, and each
# refxd workload must grow the audit logs by exactly the entries its
# successful requests write (one in the actor's log, one twin per other
# unit involved).  Any failure makes the exit status non-zero.
#
# --quick finishes in under a minute (fewer requests; growth to 10 000
# referrals and a 10 000-entry audit log).  The full run grows to
# 1 000 000 of each and takes about ten minutes and ~12 GB of disk.
# --profile also records a perf profile of refxd during the whoami, submit,
# pull and new-connection workloads, and of the offline audit verify
# (build/bench/results/perf-*.txt).  REFXD=path
# measures another refxd build (an A/B run of a proposed fix).
#
# Results: build/bench/results/last.txt (the table) and last.json.
set -u
QUICK=0
PROFILE=0
for a in "$@"; do
	case $a in
	--quick) QUICK=1 ;;
	--profile) PROFILE=1 ;;
	*) echo "usage: bench/run.sh [--quick] [--profile]" >&2; exit 64 ;;
	esac
done
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
case $BUILD in
/*) BIN=$BUILD ;;
*) BIN="$ROOT/$BUILD" ;;
esac
# REFXD=path: measure another refxd build (A/B runs of a proposed fix).
REFXD=${REFXD:-$BIN/refxd}
LOAD="$BIN/bench/refx-load"
MKSUBMIT="$BIN/bench/refx-mksubmit"
SEED="$BIN/bench/refx-seed"
RESULTS="$BIN/bench/results"
for f in "$REFXD" "$BIN/refx" "$BIN/refx-pki" "$LOAD" "$MKSUBMIT" \
    "$SEED"; do
	[ -x "$f" ] || { echo "bench: $f missing: run make bench" >&2; exit 1; }
done
for c in nginx sqlite3 jq curl setpriv taskset; do
	command -v $c >/dev/null 2>&1 || {
		echo "bench: $c missing: scripts/install-deps.sh bench" >&2
		exit 1
	}
done

# --- sizes -----------------------------------------------------------------
CONNS=16
if [ $QUICK = 1 ]; then
	N_WHOAMI=3000; N_PULL=1200; N_SUBMIT=400; N_FRESH=200
	N_IDLE=256; N_ACTIVE=1200; IDLE_S=2
	LEVELS="1000 10000"; G_PULL=600; G_SUBMIT=150; G_SAMPLE=1000
	AUDIT_N=10000; MAXSEC=20
else
	N_WHOAMI=20000; N_PULL=10000; N_SUBMIT=3000; N_FRESH=2000
	N_IDLE=256; N_ACTIVE=10000; IDLE_S=5
	LEVELS="1000 100000 1000000"; G_PULL=5000; G_SUBMIT=1500
	G_SAMPLE=5000; AUDIT_N=1000000; MAXSEC=60
fi
NLEVELS=$(echo $LEVELS | wc -w)

T=$(mktemp -d /tmp/refx-bench.XXXXXX)
chmod 755 "$T"		# refxd drops to nobody, nginx runs as nobody
XDG_STATE_HOME="$T/state"
export XDG_STATE_HOME
mkdir -p "$RESULTS" "$T/res"
REFXD_PID=""
NGINX_PID=""
FAILED=0
START=$(date +%s)

stop_pid() { # stop_pid PID: TERM, wait (bounded), KILL
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt 150 ]; do
		sleep 0.1; i=$((i + 1))
	done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}
cleanup() {
	stop_pid "$REFXD_PID"
	stop_pid "$NGINX_PID"
	if [ $FAILED -ne 0 ]; then
		[ -f "$T/refxd.log" ] && { echo "# --- refxd.log (last 30) ---"
		    tail -30 "$T/refxd.log"; }
		[ -f "$T/nginx/error.log" ] && { echo "# --- nginx error.log ---"
		    tail -10 "$T/nginx/error.log"; }
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '# [%3ds] %s\n' $(($(date +%s) - START)) "$*" >&2; }
fail() { FAILED=$((FAILED + 1)); echo "bench: FAILED: $*" >&2; }

# A free TCP port on 127.0.0.1: none listening on it (bounded search from
# a random start).
free_port() {
	p=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 20000))
	i=0
	while [ $i -lt 100 ]; do
		if ! grep -q ":$(printf '%04X' $p) " /proc/net/tcp /proc/net/tcp6
		then
			echo $p; return 0
		fi
		p=$((p + 1)); i=$((i + 1))
	done
	return 1
}

# --- the PKI: the demo's exchange plus a third recipient ---------------
pki() { "$BIN/refx-pki" -d "$T/pki" "$@" >/dev/null; }
say "making the PKI"
pki init --name "Bench exchange" &&
pki server &&
pki agency add ludvika-school-1 --kind school \
    --name "Ludvika kommun, Marnässkolan" &&
pki agency add ludvika-ifo-intake --kind ifo \
    --name "Ludvika kommun, IFO mottagning" &&
pki agency add dalarna-bup --kind bup --name "Region Dalarna, BUP" &&
pki agency add ludvika-vardcentral --kind primary-care \
    --name "Region Dalarna, Ludvika vårdcentral" &&
pki user add --agency ludvika-school-1 --role submitter --name "Sara Lind" \
    --id sara.lind &&
pki user add --agency ludvika-ifo-intake --role caseworker \
    --name "Anna Berg" --id anna.berg &&
pki user add --agency dalarna-bup --role caseworker \
    --name "Björn Åkesson" --id bjorn.akesson &&
pki user add --agency ludvika-vardcentral --role caseworker \
    --name "Vera Holm" --id vera.holm &&
pki user add --agency ludvika-ifo-intake --role auditor --name "Karin Ek" \
    --id karin.ek || { fail "refx-pki"; exit 1; }
chmod 755 "$T/pki"
chmod 644 "$T/pki/crl.pem" "$T/pki/ca.crt" "$T/pki/directory.pem"
U="$T/pki/users"
id_of() { echo "$U/$1.crt,$U/$1.key"; }

# --- refxd -----------------------------------------------------------------
# Config knobs used (see docs/performance.md): 8 threads (the example's
# default), connections and connections_per_ip 512 so that 256 loopback
# connections fit, idle_timeout 30 s for the idle-then-active phase.
DB="$T/data/refx.db"
mkdir -p "$T/data"
RPORT=$(free_port) || { fail "no free port"; exit 1; }
cat >"$T/refxd.ini" <<INI
[server]
listen = 127.0.0.1
port = $RPORT
user = nobody
threads = ${REFXD_THREADS:-16}

[tls]
certificate = $T/pki/server.crt
key = $T/pki/server.key
ca = $T/pki/ca.crt
crl = $T/pki/crl.pem

[storage]
database = $DB

[directory]
units = $T/pki/directory.pem

[policy]
file = $ROOT/etc/policy.json

[audit]
keys = $T/pki/audit
checkpoint_interval = 2

[limits]
connections = 512
connections_per_ip = 512
idle_timeout = 30
header_memory = 32768
max_body = 1048576
INI

start_refxd() {
	: >"$T/refxd.log"
	"$REFXD" -c "$T/refxd.ini" >>"$T/refxd.log" 2>&1 &
	REFXD_PID=$!
	i=0
	while [ $i -lt 600 ]; do
		grep -q "listening on" "$T/refxd.log" && return 0
		kill -0 "$REFXD_PID" 2>/dev/null || break
		sleep 0.1; i=$((i + 1))
	done
	fail "refxd did not start"; sed 's/^/# /' "$T/refxd.log" >&2
	return 1
}
say "starting refxd on port $RPORT"
start_refxd || exit 1
REFXD_URL="https://localhost:$RPORT"

# --- nginx, the reference ------------------------------------------------
N="$T/nginx"
mkdir -p "$N/tmp"
cp "$T/pki/server.crt" "$T/pki/server.key" "$T/pki/ca.crt" \
    "$T/pki/crl.pem" "$N/"
chown -R nobody:nogroup "$N"
NPORT=$(free_port) || { fail "no free port"; exit 1; }
# Same protocol, suites, groups and client-certificate check as refxd; no
# session resumption (refxd has none) and no access log (refxd's request
# log goes to a file, nginx's would be buffered: left out, favouring
# nginx slightly).
cat >"$N/nginx.conf" <<CONF
worker_processes auto;
pid $N/nginx.pid;
error_log $N/error.log warn;
events { worker_connections 2048; }
http {
	access_log off;
	client_body_temp_path $N/tmp/body;
	proxy_temp_path $N/tmp/proxy;
	fastcgi_temp_path $N/tmp/fastcgi;
	uwsgi_temp_path $N/tmp/uwsgi;
	scgi_temp_path $N/tmp/scgi;
	client_max_body_size 1m;
	keepalive_requests 10000000;
	keepalive_timeout 60s;
	server {
		listen 127.0.0.1:$NPORT ssl;
		server_name localhost;
		ssl_certificate $N/server.crt;
		ssl_certificate_key $N/server.key;
		ssl_protocols TLSv1.3;
		ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256;
		ssl_ecdh_curve X25519:prime256v1:secp384r1;
		ssl_client_certificate $N/ca.crt;
		ssl_crl $N/crl.pem;
		ssl_verify_client on;
		ssl_session_cache off;
		ssl_session_tickets off;
		default_type application/json;
		add_header Cache-Control no-store;
		location / { return 200 '{"status":"ok"}\n'; }
	}
}
CONF
say "starting nginx on port $NPORT"
setpriv --reuid=nobody --regid=nogroup --clear-groups \
    nginx -p "$N" -c "$N/nginx.conf" -e "$N/error.log" -g 'daemon off;' \
    >"$N/stdout.log" 2>&1 &
NGINX_PID=$!
i=0
until curl -s -o /dev/null --cacert "$T/pki/ca.crt" --cert "$U/anna.berg.crt" \
    --key "$U/anna.berg.key" "https://localhost:$NPORT/v1/whoami"; do
	i=$((i + 1))
	if [ $i -ge 100 ] || ! kill -0 $NGINX_PID 2>/dev/null; then
		fail "nginx did not start"; cat "$N/stdout.log" "$N/error.log" >&2
		exit 1
	fi
	sleep 0.1
done
NGINX_URL="https://localhost:$NPORT"

# --- measuring ------------------------------------------------------------
# CPU ticks (utime + stime, all threads) of processes.
ticks() {
	t=0
	for p in "$@"; do
		[ -r /proc/$p/stat ] || continue
		t=$((t + $(sed 's/^.*) //' /proc/$p/stat | awk '{print $12 + $13}')))
	done
	echo $t
}
nginx_pids() { echo $NGINX_PID $(pgrep -P $NGINX_PID); }
HZ=$(getconf CLK_TCK)
# Entries per audit log, "unit size" lines (the system log is left out:
# refused handshakes are aggregated there by time, not by request).
log_sizes() {
	sqlite3 -cmd '.timeout 30000' "$DB" \
	    "SELECT unit, size FROM audit_logs WHERE unit != 'system'"
}
log_delta() { # log_delta BEFORE AFTER UNIT|all
	awk -v u="$3" 'NR == FNR { b[$1] = $2; next }
	    u == "all" || $1 == u { d += $2 - b[$1] } END { print d + 0 }' \
	    FS='|' "$1" "$2"
}
rss() { awk '/^VmRSS/ { print $2 }' /proc/$REFXD_PID/status; }

CA="$T/pki/ca.crt"
# load NAME SERVER(refxd|nginx) [refx-load args]: one run, results in
# $T/res/NAME.SERVER.json (plus .cpu: CPU seconds of the server).
load() {
	name=$1 srv=$2; shift 2
	if [ "$srv" = refxd ]; then url=$REFXD_URL; pids=$REFXD_PID
	else url=$NGINX_URL; pids=$(nginx_pids); fi
	c0=$(ticks $pids)
	"$LOAD" --url "$url" --ca "$CA" --label "$name" --max-seconds $MAXSEC \
	    --out "$T/res/$name.$srv.json" "$@" >/dev/null 2>"$T/res/$name.err"
	rc=$?
	c1=$(ticks $pids)
	echo "$c0 $c1 $HZ" | awk '{ printf "%.3f\n", ($2 - $1) / $3 }' \
	    >"$T/res/$name.$srv.cpu"
	if [ $rc -ne 0 ] || [ ! -s "$T/res/$name.$srv.json" ]; then
		fail "$name against $srv: $(cat "$T/res/$name.err") \
$(jq -r '"\(.failed) failed, first: \(.first_status) \(.first_error)"' \
		    "$T/res/$name.$srv.json" 2>/dev/null)"
		return 1
	fi
	say "$name/$srv: $(jq -r '"\(.rps) req/s, p50 \(.p50_ms) ms, p99 \(.p99_ms) ms"' \
	    "$T/res/$name.$srv.json")"
	return 0
}
answered() { # answered NAME: 2xx answers of the refxd run, warm-up included
	jq '.ok + .warmup_ok' "$T/res/$1.refxd.json" 2>/dev/null || echo 0
}
# audited NAME ACTOR-UNITS PER-REQUEST BEFORE: the audit logs grew by
# exactly the answered requests in the actors' logs, and by PER times
# that over all logs.
audited() {
	name=$1 actors=$2 per=$3 before=$4
	log_sizes >"$T/after"
	n=$(answered "$name")
	a=0
	for u in $actors; do
		a=$((a + $(log_delta "$before" "$T/after" "$u")))
	done
	all=$(log_delta "$before" "$T/after" all)
	echo "$n $a $all" >"$T/res/$name.audit"
	if [ "$a" != "$n" ] || [ "$all" != $((n * per)) ]; then
		fail "$name: $n requests answered, but $a entries in the actors' \
logs and $all in all (expected $n and $((n * per)))"
		return 1
	fi
	return 0
}
# profile NAME: perf record refxd (DWARF call graphs: the libraries have
# no frame pointers) until stop_profile NAME writes the reports.
PERF_PID=""
profile() {
	[ $PROFILE = 1 ] || return 0
	perf record -e cpu-clock -F 250 --call-graph dwarf,16384 \
	    -p $REFXD_PID -o "$T/perf.$1" >/dev/null 2>&1 &
	PERF_PID=$!
	sleep 0.5
}
stop_profile() {
	[ -n "$PERF_PID" ] || return 0
	kill -INT $PERF_PID; wait $PERF_PID 2>/dev/null; PERF_PID=""
	for how in "--no-children --sort dso" "--no-children --sort dso,symbol" \
	    "--children --sort symbol"; do
		echo "### perf report $how"
		# shellcheck disable=SC2086
		perf report -i "$T/perf.$1" $how -g none --percent-limit 0.8 \
		    --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -60
	done >"$RESULTS/perf-$1.txt"
}

# --- the data: a consent and a pool of signed submits --------------------
as() { # as PERSON refx-args...
	p=$1; shift
	REFX_CONFIG="$T/none.ini" "$BIN/refx" --server "$REFXD_URL" --ca "$CA" \
	    --cert "$U/$p.crt" --key "$U/$p.key" "$@"
}
say "recording the consent, building $((N_SUBMIT + NLEVELS * G_SUBMIT)) signed submits"
jq --arg d "$(date -u -d '+60 days' +%F)" '.valid_until = $d' \
    "$ROOT/bench/consent.json" >"$T/consent.json"
CID=$(as sara.lind --json consent record "$T/consent.json" | jq -r .id)
[ -n "$CID" ] && [ "$CID" != null ] || { fail "consent record"; exit 1; }
curl -s --cacert "$CA" --cert "$U/sara.lind.crt" --key "$U/sara.lind.key" \
    "$REFXD_URL/v1/directory" >"$T/directory.json"
"$MKSUBMIT" --draft "$ROOT/bench/draft.json" --consent-file "$T/consent.json" \
    --consent "$CID" --unit ludvika-school-1 --person sara.lind \
    --cert "$U/sara.lind.crt" --key "$U/sara.lind.key" \
    --directory "$T/directory.json" --policy "$ROOT/etc/policy.json" \
    --count $((N_SUBMIT + NLEVELS * G_SUBMIT)) >"$T/bodies.all" ||
    { fail "refx-mksubmit"; exit 1; }
head -n $N_SUBMIT "$T/bodies.all" >"$T/bodies.main"
BODY_BYTES=$(head -n 1 "$T/bodies.main" | wc -c)

# --- the workloads, each against refxd, then nginx ----------------------
WHO="--id $(id_of anna.berg) --id $(id_of bjorn.akesson) --id $(id_of sara.lind) --id $(id_of karin.ek) --id $(id_of vera.holm)"
PULLERS="--id $(id_of anna.berg) --id $(id_of bjorn.akesson) --id $(id_of vera.holm)"
RECIPIENTS="ludvika-ifo-intake dalarna-bup ludvika-vardcentral"

say "workload whoami: $N_WHOAMI requests, $CONNS keep-alive connections"
log_sizes >"$T/before"
profile whoami
# shellcheck disable=SC2086
load whoami refxd $WHO --conns $CONNS --requests $N_WHOAMI --warmup \
    --path /v1/whoami
stop_profile whoami
audited whoami "ludvika-ifo-intake dalarna-bup ludvika-school-1 ludvika-vardcentral" 1 "$T/before"
# shellcheck disable=SC2086
load whoami nginx $WHO --conns $CONNS --requests $N_WHOAMI --warmup \
    --path /v1/whoami

say "workload submit: $N_SUBMIT signed submits of $BODY_BYTES bytes to 3 recipients"
log_sizes >"$T/before"
profile submit
load submit refxd --id "$(id_of sara.lind)" --conns $CONNS --method POST \
    --bodies "$T/bodies.main" --requests $N_SUBMIT --path /v1/referrals
stop_profile submit
audited submit ludvika-school-1 4 "$T/before"
load submit nginx --id "$(id_of sara.lind)" --conns $CONNS --method POST \
    --bodies "$T/bodies.main" --requests $N_SUBMIT --path /v1/referrals

say "workload pull: $N_PULL audited pulls of the submitted referrals"
sqlite3 "$DB" "SELECT '/v1/referrals/' || id FROM referrals ORDER BY
    random() LIMIT 2000" >"$T/pull.paths"
log_sizes >"$T/before"
profile pull
# shellcheck disable=SC2086
load pull refxd $PULLERS --conns $CONNS --requests $N_PULL --warmup \
    --paths "$T/pull.paths"
stop_profile pull
audited pull "$RECIPIENTS" 2 "$T/before"
# shellcheck disable=SC2086
load pull nginx $PULLERS --conns $CONNS --requests $N_PULL --warmup \
    --paths "$T/pull.paths"

say "workload fresh: $N_FRESH whoami, a new TLS connection for each"
log_sizes >"$T/before"
profile fresh
# shellcheck disable=SC2086
load fresh refxd $WHO --conns $CONNS --requests $N_FRESH --fresh \
    --path /v1/whoami
stop_profile fresh
audited fresh "ludvika-ifo-intake dalarna-bup ludvika-school-1 ludvika-vardcentral" 1 "$T/before"
# shellcheck disable=SC2086
load fresh nginx $WHO --conns $CONNS --requests $N_FRESH --fresh \
    --path /v1/whoami

say "workload idle256: $N_IDLE connections, idle ${IDLE_S}s, then $N_ACTIVE whoami"
RSS0=$(rss)
log_sizes >"$T/before"
( peak=0; i=0
  while [ $i -lt $((MAXSEC * 20 + IDLE_S * 20 + 200)) ] && [ ! -f "$T/rss.stop" ]; do
	r=$(rss); [ "${r:-0}" -gt $peak ] && peak=$r
	echo $peak >"$T/rss.peak"; sleep 0.05; i=$((i + 1))
  done ) &
SAMPLER=$!
# shellcheck disable=SC2086
load idle256 refxd $WHO --conns $N_IDLE --requests $N_ACTIVE \
    --idle $IDLE_S --path /v1/whoami &&
audited idle256 "ludvika-ifo-intake dalarna-bup ludvika-school-1 ludvika-vardcentral" 1 "$T/before"
touch "$T/rss.stop"; wait $SAMPLER
RSS_PEAK=$(cat "$T/rss.peak")
HWM=$(awk '/^VmHWM/ { print $2 }' /proc/$REFXD_PID/status)
say "refxd RSS: ${RSS0} kB before, ${RSS_PEAK} kB peak with $N_IDLE connections (VmHWM ${HWM} kB)"
# shellcheck disable=SC2086
load idle256 nginx $WHO --conns $N_IDLE --requests $N_ACTIVE \
    --idle $IDLE_S --path /v1/whoami

# --- growth: pulls and submits with 1 000 ... 1 000 000 referrals ---------
# The table is first trimmed to the template referral, then seeded with
# copies of it (bench/seed.c) up to each level.
TEMPLATE=$(sqlite3 "$DB" "SELECT id FROM referrals ORDER BY id LIMIT 1")
say "growth: trimming to 1 referral (template $TEMPLATE)"
sqlite3 -cmd '.timeout 30000' "$DB" "BEGIN IMMEDIATE;
    DELETE FROM disclosures WHERE referral_id != '$TEMPLATE';
    DELETE FROM envelopes WHERE referral_id != '$TEMPLATE';
    DELETE FROM referral_fields WHERE referral_id != '$TEMPLATE';
    DELETE FROM referral_recipients WHERE referral_id != '$TEMPLATE';
    DELETE FROM referrals WHERE id != '$TEMPLATE'; COMMIT;" ||
    fail "trimming the referrals"
off=$N_SUBMIT
for level in $LEVELS; do
	have=$(sqlite3 -cmd '.timeout 30000' "$DB" \
	    "SELECT count(*) FROM referrals")
	if [ "$have" -lt "$level" ]; then
		say "growth: seeding $((level - have)) referrals"
		t0=$(date +%s.%N)
		"$SEED" referrals --db "$DB" --template "$TEMPLATE" \
		    --count $((level - have)) --sample "$T/g$level.paths" \
		    --sample-count $G_SAMPLE || fail "seeding $level referrals"
		t1=$(date +%s.%N)
		echo "$t0 $t1 $((level - have))" | awk '{ printf "%.1f %d\n",
		    $2 - $1, $3 }' >"$T/res/seed$level"
	fi
	stored=$(sqlite3 -cmd '.timeout 30000' "$DB" \
	    "SELECT count(*) FROM referrals")
	echo "$stored" >"$T/res/stored$level"
	say "growth at $stored referrals: pull"
	log_sizes >"$T/before"
	# shellcheck disable=SC2086
	load pull@$level refxd $PULLERS --conns $CONNS --requests $G_PULL \
	    --warmup --paths "$T/g$level.paths" &&
	audited pull@$level "$RECIPIENTS" 2 "$T/before"
	say "growth at $stored referrals: submit"
	sed -n "$((off + 1)),$((off + G_SUBMIT))p" "$T/bodies.all" \
	    >"$T/bodies.$level"
	off=$((off + G_SUBMIT))
	log_sizes >"$T/before"
	load submit@$level refxd --id "$(id_of sara.lind)" --conns $CONNS \
	    --method POST --bodies "$T/bodies.$level" --requests $G_SUBMIT \
	    --path /v1/referrals &&
	audited submit@$level ludvika-school-1 4 "$T/before"
done
DBSIZE=$(du -sm "$T/data" | awk '{ print $1 }')

# --- audit verification of a long log ------------------------------------
# The seeder copies the log's newest entry: make it an identity GET (the
# smallest entry, as most of a log's are).  A log of a million pull
# entries (614 MB exported) verifies too, in about 4 s (docs/performance.md).
as anna.berg whoami >/dev/null 2>&1 || fail "whoami before seeding the log"
have=$(sqlite3 -cmd '.timeout 30000' "$DB" \
    "SELECT size FROM audit_logs WHERE unit = 'ludvika-ifo-intake'")
if [ "$have" -lt $AUDIT_N ]; then
	say "audit: seeding $((AUDIT_N - have)) entries into the IFO log"
	"$SEED" audit --db "$DB" --unit ludvika-ifo-intake \
	    --count $((AUDIT_N - have)) || fail "seeding the audit log"
fi
size=$(sqlite3 -cmd '.timeout 30000' "$DB" \
    "SELECT size FROM audit_logs WHERE unit = 'ludvika-ifo-intake'")
i=0
until [ "$(sqlite3 -cmd '.timeout 30000' "$DB" "SELECT count(*) FROM
    audit_checkpoints c JOIN audit_logs l ON l.id = c.log_id WHERE
    l.unit = 'ludvika-ifo-intake' AND c.size >= $size")" -ge 1 ]; do
	i=$((i + 1))
	[ $i -lt 150 ] || { fail "no checkpoint over $size entries"; break; }
	sleep 0.2
done
say "audit: exporting $size entries"
t0=$(date +%s.%N)
as karin.ek audit export "$T/ifo.bundle" >/dev/null 2>"$T/export.err" ||
    fail "audit export: $(cat "$T/export.err")"
t1=$(date +%s.%N)
EXPORT_S=$(echo "$t0 $t1" | awk '{ printf "%.1f", $2 - $1 }')
BUNDLE_MB=$(du -m "$T/ifo.bundle" | awk '{ print $1 }')
VERIFIED=$(jq '.entries | length' "$T/ifo.bundle")
say "audit: verifying $VERIFIED entries offline on one core"
# Offline, on CPU 0 only; the page cache holds the bundle already.
REFX_CONFIG="$T/none.ini" /usr/bin/time -f '%e %U %S' -o "$T/verify.time" \
    taskset -c 0 "$BIN/refx" --ca "$CA" audit verify "$T/ifo.bundle" \
    --state-dir "$T/verify-state" >"$T/verify.out" 2>&1 ||
    fail "audit verify: $(tail -2 "$T/verify.out")"
grep -q OK "$T/verify.out" || fail "audit verify did not say OK"
read -r VERIFY_S VERIFY_U VERIFY_SYS <"$T/verify.time"
if [ $PROFILE = 1 ]; then
	# Again under perf, with a fresh state directory.
	REFX_CONFIG="$T/none.ini" perf record -e cpu-clock -F 2000 \
	    --call-graph dwarf,16384 -o "$T/perf.verify" taskset -c 0 \
	    "$BIN/refx" --ca "$CA" audit verify "$T/ifo.bundle" \
	    --state-dir "$T/verify-state2" >/dev/null 2>&1
	for how in "--no-children --sort dso" \
	    "--no-children --sort dso,symbol" "--children --sort symbol"; do
		echo "### perf report $how"
		# shellcheck disable=SC2086
		perf report -i "$T/perf.verify" $how -g none \
		    --percent-limit 0.8 --stdio 2>/dev/null | grep -v '^#' |
		    grep -v '^$' | head -60
	done >"$RESULTS/perf-verify.txt"
fi

# --- the table ------------------------------------------------------------
HWM=$(awk '/^VmHWM/ { print $2 }' /proc/$REFXD_PID/status)
cpu() { cat "$T/res/$1.$2.cpu" 2>/dev/null || echo 0; }
field() { jq -r ".$3 // 0" "$T/res/$1.$2.json" 2>/dev/null || echo 0; }
row() { # row NAME DESCRIPTION
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$2" \
	    "$(field "$1" refxd rps)" "$(field "$1" refxd p50_ms)" \
	    "$(field "$1" refxd p99_ms)" "$(cpu "$1" refxd)" \
	    "$(field "$1" refxd ok)" "$(field "$1" nginx rps)" \
	    "$(field "$1" nginx p50_ms)" "$(field "$1" nginx p99_ms)" \
	    "$(cpu "$1" nginx)"
}
{
	row whoami "identity GET (whoami)"
	row pull "audited pull"
	row submit "signed submit, 3 recipients"
	row fresh "new connection per request"
	row idle256 "256 idle-then-active conns"
	for level in $LEVELS; do
		row "pull@$level" "pull @ $(cat "$T/res/stored$level") stored"
		row "submit@$level" "submit @ $(cat "$T/res/stored$level") stored"
	done
} >"$T/rows"

MODE=full; [ $QUICK = 1 ] && MODE=quick
FIRST=$(echo $LEVELS | awk '{ print $1 }')
LAST=$(echo $LEVELS | awk '{ print $NF }')
{
	printf 'refx benchmark (%s), %s, tree %s, refxd %s\n' "$MODE" \
	    "$(date -u +%FT%TZ)" \
	    "$(git -C "$ROOT" describe --always --dirty 2>/dev/null)" "$REFXD"
	printf '%s; %s cores; %s connections unless said; client and servers share the cores\n' \
	    "$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)" \
	    "$(nproc)" "$CONNS"
	echo
	awk -F '\t' '
	BEGIN {
		printf "%-30s %9s %7s %7s %9s | %9s %7s %7s | %6s\n",
		    "workload", "refxd/s", "p50 ms", "p99 ms", "CPU ms/r",
		    "nginx/s", "p50 ms", "p99 ms", "ratio"
	}
	{
		cpu = $6 > 0 ? $5 * 1000 / $6 : 0
		if ($7 > 0)
			printf "%-30s %9.0f %7.2f %7.2f %9.3f | %9.0f %7.2f %7.2f | %6.2f\n",
			    $1, $2, $3, $4, cpu, $7, $8, $9, $2 / $7
		else
			printf "%-30s %9.0f %7.2f %7.2f %9.3f | %9s %7s %7s | %6s\n",
			    $1, $2, $3, $4, cpu, "-", "", "", ""
	}' "$T/rows"
	echo
	printf 'refxd RSS: %d kB idle, %d kB peak with %d connections (VmHWM %d kB)\n' \
	    "$RSS0" "$RSS_PEAK" "$N_IDLE" "$HWM"
	printf 'database: %s MB with %s referrals; seeding: %s\n' "$DBSIZE" \
	    "$(cat "$T/res/stored$LAST")" \
	    "$(cat "$T"/res/seed* 2>/dev/null | awk '{ s += $1; n += $2 }
	    END { printf "%d referrals in %.1f s", n, s }')"
	printf 'audit log: %s entries exported in %s s (%s MB); offline verify %s s wall, %s s user, %s s sys on one core\n' \
	    "$VERIFIED" "$EXPORT_S" "$BUNDLE_MB" "$VERIFY_S" "$VERIFY_U" \
	    "$VERIFY_SYS"
	echo
	echo "targets (ratios to nginx in this run, $CONNS keep-alive connections):"
	tgt() { # tgt DESCRIPTION VALUE OP LIMIT
		if awk -v v="$2" -v l="$4" -v op="$3" 'BEGIN {
		    exit !((op == ">=" && v >= l) || (op == "<=" && v <= l)) }'
		then r=PASS; else r=MISS; fi
		printf '  %-4s %-44s %s %s %s\n' $r "$1" "$2" "$3" "$4"
	}
	ratio() { awk -v a="$(field "$1" refxd rps)" -v b="$(field "$1" nginx rps)" \
	    'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
	tgt "identity GET ratio" "$(ratio whoami)" ">=" 0.8
	tgt "audited pull ratio" "$(ratio pull)" ">=" 0.5
	tgt "audited pull p99 (ms)" "$(field pull refxd p99_ms)" "<=" 10
	tgt "signed submit ratio" "$(ratio submit)" ">=" 0.25
	tgt "signed submit p99 (ms)" "$(field submit refxd p99_ms)" "<=" 20
	tgt "new-connection ratio" "$(ratio fresh)" ">=" 0.8
	tgt "refxd RSS with $N_IDLE connections (MB)" \
	    "$(awk -v k="$RSS_PEAK" 'BEGIN { printf "%.1f", k / 1024 }')" "<=" 64
	tgt "pull rate at $LAST / at $FIRST" "$(awk \
	    -v a="$(field "pull@$LAST" refxd rps)" \
	    -v b="$(field "pull@$FIRST" refxd rps)" \
	    'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')" ">=" 0.8
	tgt "audit verify of $VERIFIED entries (s)" "$VERIFY_S" "<=" 3
	echo
	if [ $FAILED -eq 0 ]; then
		echo "correctness: every request answered 2xx; audit entries = answered requests in every refxd workload"
	else
		echo "correctness: $FAILED FAILURES (see above)"
	fi
} >"$RESULTS/last.txt"
cat "$RESULTS/last.txt"

# Machine-readable: every run's JSON, with the server's CPU seconds.
for f in "$T"/res/*.json; do
	b=$(basename "$f" .json)
	jq -c --argjson cpu "$(cat "$T/res/$b.cpu")" \
	    '. + {server: "'"${b##*.}"'", server_cpu_s: $cpu}' "$f"
done | jq -s --arg mode $MODE --argjson rss0 "$RSS0" \
    --argjson rss "$RSS_PEAK" --argjson hwm "$HWM" \
    --argjson verify "$VERIFY_S" --argjson entries "$VERIFIED" \
    --argjson failed $FAILED \
    '{mode: $mode, runs: ., refxd_rss_kb: {idle: $rss0, peak_256: $rss,
      hwm: $hwm}, audit_verify: {entries: $entries, seconds: $verify},
      failures: $failed}' >"$RESULTS/last.json"
[ $FAILED -eq 0 ] || { echo "bench: $FAILED failures" >&2; exit 1; }
exit 0
