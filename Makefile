# refx: secure inter-agency referral exchange.
#
#   make            build librefx.a, refxd, refx, refx-pki
#   make check      install missing Debian packages, build, run every test
#   make sanitize   the same tests under ASan+UBSan, built in build-san/
#   make demo       set up a throwaway exchange on loopback and run it
#   make install    DESTDIR=... PREFIX=... : binaries, man pages, example config

.DEFAULT_GOAL := all

PREFIX   ?= /usr/local
DESTDIR  ?=
BUILD    ?= build
CC       ?= cc
SANDBOX  ?= noop

PKGS      = libmicrohttpd gnutls libcurl libsodium sqlite3 jansson inih openssl
TEST_PKGS = cmocka

WARN = -Wall -Wextra -Werror -Wstrict-prototypes -Wmissing-prototypes \
       -Wshadow -Wpointer-arith -Wcast-qual -Wsign-compare \
       -Wformat=2 -Wvla -Wimplicit-fallthrough
# pkg-config is only consulted when building, so `make install-deps`
# works before the -dev packages exist.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
TEST_LIBS  = $(shell pkg-config --libs $(TEST_PKGS) 2>/dev/null)

CFLAGS  ?= -O2 -g
CFLAGS  += -std=c17 -D_GNU_SOURCE $(WARN) -fstack-protector-strong \
           -D_FORTIFY_SOURCE=2 -fPIE -Iinclude $(PKG_CFLAGS)
LDFLAGS += -pie -Wl,-z,relro,-z,now
LDLIBS  += $(PKG_LIBS) -lpthread

# --- librefx: what two or more programs share ---------------------------
LIB_SRCS += lib/err.c
LIB_SRCS += lib/log.c
LIB_SRCS += lib/buf.c
LIB_SRCS += lib/file.c
LIB_SRCS += lib/identity.c
LIB_SRCS += lib/secret.c
LIB_SRCS += lib/cert.c
LIB_SRCS += lib/schema.c
LIB_SRCS += $(BUILD)/gen/schema_data.c
LIB_SRCS += lib/policy.c
LIB_SRCS += lib/envelope.c
LIB_SRCS += lib/merkle.c
LIB_SRCS += lib/note.c
LIB_SRCS += lib/audit.c
LIB_SRCS += lib/sandbox_$(SANDBOX).c

# --- refxd ----------------------------------------------------------------
SERVER_SRCS += server/config.c
SERVER_SRCS += server/tls.c
SERVER_SRCS += server/store.c
SERVER_SRCS += server/directory.c
SERVER_SRCS += server/access.c
SERVER_SRCS += server/audit.c
SERVER_SRCS += server/h_audit.c
SERVER_SRCS += server/clock.c
SERVER_SRCS += server/consents.c
SERVER_SRCS += server/referrals.c
SERVER_SRCS += server/caseflow.c
SERVER_SRCS += server/pipeline.c
SERVER_SRCS += server/routes.c
SERVER_SRCS += server/h_basic.c
SERVER_SRCS += server/http.c
SERVER_SRCS += server/purge.c
SERVER_MAIN  = server/main.c

# --- refx (CLI) -----------------------------------------------------------
CLIENT_SRCS += client/config.c
CLIENT_SRCS += client/net.c
CLIENT_SRCS += client/cmd_util.c
CLIENT_SRCS += client/cmd_args.c
CLIENT_SRCS += client/cmd_whoami.c
CLIENT_SRCS += client/cmd_health.c
CLIENT_SRCS += client/cmd_directory.c
CLIENT_SRCS += client/directory.c
CLIENT_SRCS += client/packet.c
CLIENT_SRCS += client/cmd_policy.c
CLIENT_SRCS += client/cmd_consent.c
CLIENT_SRCS += client/cmd_referral.c
CLIENT_SRCS += client/cmd_case.c
CLIENT_SRCS += client/cmd_key.c
CLIENT_SRCS += client/bundle.c
CLIENT_SRCS += client/cmd_audit.c
CLIENT_SRCS += client/screen.c
CLIENT_SRCS += client/cmd_screen.c
# libcsv (no pkg-config file): only refx screen reads CSV, so only refx
# and the client's unit tests link it.
CLIENT_LDLIBS = -lcsv
$(BUILD)/refx: LDLIBS += $(CLIENT_LDLIBS)
$(BUILD)/tests/test_cli_%: LDLIBS += $(CLIENT_LDLIBS)
CLIENT_MAIN  = client/main.c
# refx-craft: builds hand-crafted submissions for the integration tests
# with the client's own packet code (tests/tools/craft.c).
CRAFT = $(BUILD)/tests/tools/refx-craft
$(CRAFT): $(BUILD)/obj/tests/tools/craft.o $(BUILD)/libclient.a \
    $(BUILD)/librefx.a
	@mkdir -p $(dir $@)
	@[ "$(V)" != 0 ] || echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
test-bins: $(CRAFT)
# refx-gen-attendance: seeded attendance exports for refx screen's tests
# (tests/tools/gen-attendance.c); libc only.
GEN_ATTENDANCE = $(BUILD)/tests/tools/refx-gen-attendance
$(GEN_ATTENDANCE): $(BUILD)/obj/tests/tools/gen-attendance.o
	@mkdir -p $(dir $@)
	@[ "$(V)" != 0 ] || echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^
test-bins: $(GEN_ATTENDANCE)

# --- refx-pki -------------------------------------------------------------
PKI_SRCS += pki/ca.c
PKI_SRCS += pki/index.c
PKI_SRCS += pki/dir.c
PKI_MAIN  = pki/main.c
# test_pki_ca scripts RAND_bytes to test that serials are unique.
$(BUILD)/tests/test_pki_ca: override LDFLAGS += -Wl,--wrap=RAND_bytes

UNIT_TESTS += test_lib_identity
UNIT_TESTS += test_lib_buf
UNIT_TESTS += test_lib_file
UNIT_TESTS += test_lib_secret
UNIT_TESTS += test_srv_config
UNIT_TESTS += test_srv_access
UNIT_TESTS += test_srv_purge
UNIT_TESTS += test_srv_caseflow
UNIT_TESTS += test_srv_store
UNIT_TESTS += test_lib_schema
UNIT_TESTS += test_lib_policy
UNIT_TESTS += test_lib_envelope
UNIT_TESTS += test_lib_merkle
UNIT_TESTS += test_lib_note
UNIT_TESTS += test_lib_audit
# (refx-pki tests)
UNIT_TESTS += test_lib_cert
UNIT_TESTS += test_pki_ca
# (refx tests)
UNIT_TESTS += test_cli_config
UNIT_TESTS += test_cli_escape
UNIT_TESTS += test_cli_packet
UNIT_TESTS += test_cli_audit
UNIT_TESTS += test_cli_screen

# `make V=1` shows the full commands.
V ?= 0
ifeq ($(V),0)
Q = @
else
Q =
endif

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIB     = $(BUILD)/librefx.a
SERVER_LIB = $(BUILD)/libserver.a
CLIENT_LIB = $(BUILD)/libclient.a
PKI_LIB    = $(BUILD)/libpki.a
PROGS   = $(BUILD)/refxd $(BUILD)/refx $(BUILD)/refx-pki
TESTBINS = $(addprefix $(BUILD)/tests/,$(UNIT_TESTS))

.PHONY: all check sanitize demo install install-deps clean test-bins \
        run-tests bench lint
all: $(PROGS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@[ "$(V)" != 0 ] || echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(call obj,$(LIB_SRCS))
	$(Q)$(AR) rcs $@ $^
# The referral schema, compiled into librefx (refx_schema_json()).
$(BUILD)/gen/schema_data.c: schema/referral-v1.json scripts/embed.sh
	@mkdir -p $(dir $@)
	@[ "$(V)" != 0 ] || echo "  GEN     $@"
	$(Q)sh scripts/embed.sh schema/referral-v1.json $@ refx_schema_data
$(SERVER_LIB): $(call obj,$(SERVER_SRCS))
	$(Q)$(AR) rcs $@ $^
$(CLIENT_LIB): $(call obj,$(CLIENT_SRCS))
	$(Q)$(AR) rcs $@ $^
$(PKI_LIB): $(call obj,$(PKI_SRCS))
	$(Q)$(AR) rcs $@ $^

$(BUILD)/refxd: $(call obj,$(SERVER_MAIN)) $(SERVER_LIB) $(LIB)
	@[ "$(V)" != 0 ] || echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/refx: $(call obj,$(CLIENT_MAIN)) $(CLIENT_LIB) $(LIB)
	@[ "$(V)" != 0 ] || echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/refx-pki: $(call obj,$(PKI_MAIN)) $(PKI_LIB) $(LIB)
	@[ "$(V)" != 0 ] || echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Unit tests: one binary per module, named for the library it tests
# (test_lib_*, test_srv_*, test_cli_*, test_pki_*) and linked with that
# library only, so program modules may reuse short names.
TEST_LINK = @[ "$(V)" != 0 ] || echo "  LD      $@"; $(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(TEST_LIBS)
$(BUILD)/tests/test_lib_%: $(BUILD)/obj/tests/unit/test_lib_%.o $(LIB)
	@mkdir -p $(dir $@)
	$(TEST_LINK)
$(BUILD)/tests/test_srv_%: $(BUILD)/obj/tests/unit/test_srv_%.o $(SERVER_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(TEST_LINK)
$(BUILD)/tests/test_cli_%: $(BUILD)/obj/tests/unit/test_cli_%.o $(CLIENT_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(TEST_LINK)
$(BUILD)/tests/test_pki_%: $(BUILD)/obj/tests/unit/test_pki_%.o $(PKI_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(TEST_LINK)

test-bins: $(PROGS) $(TESTBINS)

# make bench: the load generator, the submit builder and the seeder
# (bench/), then bench/run.sh against refxd and nginx (docs/performance.md).
# `make bench QUICK=1` is the under-a-minute run.
BENCH_BINS = $(BUILD)/bench/refx-load $(BUILD)/bench/refx-mksubmit \
    $(BUILD)/bench/refx-seed
$(BUILD)/bench/refx-load: $(BUILD)/obj/bench/load.o
$(BUILD)/bench/refx-mksubmit: $(BUILD)/obj/bench/mksubmit.o $(CLIENT_LIB) \
    $(LIB)
$(BUILD)/bench/refx-mksubmit: LDLIBS += $(CLIENT_LDLIBS)
$(BUILD)/bench/refx-seed: $(BUILD)/obj/bench/seed.o $(LIB)
$(BENCH_BINS):
	@mkdir -p $(dir $@)
	@[ "$(V)" != 0 ] || echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
bench: all
	./scripts/install-deps.sh bench
	$(MAKE) $(BENCH_BINS)
	BUILD=$(BUILD) ./bench/run.sh $(if $(QUICK),--quick)

install-deps:
	./scripts/install-deps.sh

run-tests: test-bins
	BUILD=$(BUILD) UNIT_TESTS="$(UNIT_TESTS)" ./tests/run.sh

check: install-deps
	$(MAKE) run-tests

# The sanitizer build: same sources and tests, separate folder.
ifeq ($(SAN),1)
CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
           -fno-sanitize-recover=undefined -U_FORTIFY_SOURCE
LDFLAGS += -fsanitize=address,undefined
endif
sanitize: install-deps
	$(MAKE) BUILD=build-san SAN=1 run-tests

demo: install-deps
	$(MAKE) all $(GEN_ATTENDANCE)
	BUILD=$(BUILD) ./scripts/demo.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin \
	    $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/share/man/man8 \
	    $(DESTDIR)$(PREFIX)/share/doc/refx/examples
	install -m 0755 $(BUILD)/refx $(DESTDIR)$(PREFIX)/bin/refx
	install -m 0755 $(BUILD)/refx-pki $(DESTDIR)$(PREFIX)/sbin/refx-pki
	install -m 0755 $(BUILD)/refxd $(DESTDIR)$(PREFIX)/sbin/refxd
	install -m 0644 man/refx.1 $(DESTDIR)$(PREFIX)/share/man/man1/refx.1
	install -m 0644 man/refx-pki.8 $(DESTDIR)$(PREFIX)/share/man/man8/refx-pki.8
	install -m 0644 man/refxd.8 $(DESTDIR)$(PREFIX)/share/man/man8/refxd.8
	install -d $(DESTDIR)$(PREFIX)/share/refx
	install -m 0644 etc/policy.json $(DESTDIR)$(PREFIX)/share/refx/policy.json
	install -m 0644 etc/refxd.ini.example etc/refx.ini.example \
	    $(DESTDIR)$(PREFIX)/share/doc/refx/examples/

lint:
	./scripts/lint.sh

clean:
	rm -rf build build-san demo-run

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
