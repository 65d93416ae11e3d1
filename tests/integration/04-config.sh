#!/bin/sh
# Bad configuration gives one clear message naming the key and line, and
# exit code 78 (EX_CONFIG); nothing is started.
. "$(dirname "$0")/lib.sh"

check "PKI created" make_pki
write_config
cp "$T/refxd.ini" "$T/good.ini"

expect78() {
	desc=$1 pattern=$2
	# Bounded: a config that wrongly loads must not hang the suite.
	timeout 20 "$REFXD" -c "$T/refxd.ini" >"$T/out" 2>&1
	rc=$?
	if [ "$rc" = 78 ] && grep -q -- "$pattern" "$T/out"; then
		ok "$desc"
	else
		not_ok "$desc (rc=$rc): $(cat "$T/out")"
	fi
	cp "$T/good.ini" "$T/refxd.ini"
}

"$REFXD" -t -c "$T/refxd.ini" >"$T/out" 2>&1
check "good config passes -t" test $? = 0

sed -i 's/^threads = .*/threads = 4\ncolour = blue/' "$T/refxd.ini"
expect78 "unknown key named with its line" "refxd.ini:6: unknown key 'colour' in \[server\]"

sed -i 's/^port = .*/port = 99999/' "$T/refxd.ini"
expect78 "out-of-range port named with its line" "refxd.ini:3: 'port' in \[server\] must be a whole number"

sed -i 's/^max_body = .*/max_body = lots/' "$T/refxd.ini"
expect78 "non-numeric limit named" "'max_body' in \[limits\] must be a whole number"

sed -i '/^crl = /d' "$T/refxd.ini"
expect78 "missing key named" "missing key 'crl' in \[tls\]"

sed -i 's/^\[tls\]/[tls/' "$T/refxd.ini"
expect78 "syntax error named with its line" "refxd.ini:7: syntax error"

sed -i "s|^key = .*|key = $T/nonexistent.key|" "$T/refxd.ini"
expect78 "unreadable key file named" "\[tls\] key: $T/nonexistent.key"

chmod 644 "$T/pki/server.key"
expect78 "group/world-readable server key refused" "chmod 600"
chmod 600 "$T/pki/server.key"

sed -i "s|^crl = .*|crl = $T/pki/ca.crt|" "$T/refxd.ini"
expect78 "a CRL that is not a CRL is refused" "\[tls\] crl"

sed -i 's/^listen = .*/listen = not-an-ip/' "$T/refxd.ini"
timeout 20 "$REFXD" -c "$T/refxd.ini" >"$T/out" 2>&1
rc=$?
check "non-numeric listen address refused (rc=$rc)" test "$rc" != 0
check "non-numeric listen address named" grep -q "\[server\] listen" "$T/out"
cp "$T/good.ini" "$T/refxd.ini"

"$REFXD" -c "$T/nonexistent.ini" >"$T/out" 2>&1
rc=$?
check "missing config file: exit 78 (rc=$rc)" test "$rc" = 78
"$REFXD" --bogus >"$T/out" 2>&1
rc=$?
check "unknown option: exit 64 (rc=$rc)" test "$rc" = 64
finish
