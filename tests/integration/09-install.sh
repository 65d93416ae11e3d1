#!/bin/sh
# make install honours DESTDIR and PREFIX: binaries, man pages, the
# policy and the example configurations land where they should.
. "$(dirname "$0")/lib.sh"

make -s -C "$ROOT" BUILD="$BUILD" install DESTDIR="$T/root" PREFIX=/opt/refx \
    >"$T/install.out" 2>&1
check "make install succeeds" test $? = 0
for f in bin/refx sbin/refxd sbin/refx-pki; do
	check "$f installed and executable" test -x "$T/root/opt/refx/$f"
done
for f in share/man/man1/refx.1 share/man/man8/refxd.8 \
    share/man/man8/refx-pki.8 share/refx/policy.json \
    share/doc/refx/examples/refxd.ini.example \
    share/doc/refx/examples/refx.ini.example; do
	check "$f installed" test -s "$T/root/opt/refx/$f"
done
check "installed refxd runs" sh -c "$T/root/opt/refx/sbin/refxd --version | grep -q refxd"
check "man pages render" sh -c "man -l $T/root/opt/refx/share/man/man8/refxd.8 \
    2>/dev/null | grep -q SIGHUP || groff -man -Tutf8 \
    $T/root/opt/refx/share/man/man8/refxd.8 2>/dev/null | grep -q SIGHUP || \
    grep -q SIGHUP $T/root/opt/refx/share/man/man8/refxd.8"
check "nothing was installed outside DESTDIR" \
    sh -c "! test -e /opt/refx/sbin/refxd"
finish
