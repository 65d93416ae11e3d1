/*
 * RFC 9162 Merkle trees (lib/merkle.c): the RFC 6962 known answers, every
 * file of the transparency-dev proof vectors, every tree of up to MAXN
 * leaves against a naive recursive implementation, and trees of up to
 * 2^63 leaves through a virtual store.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "refx/merkle.h"

#define HL		REFX_MERKLE_HASH_LEN
#define MAXP		REFX_MERKLE_MAX_PROOF
#define MAXS		REFX_MERKLE_MAX_SIZE

/* The vectors, relative to the repo root (tests run from there). */
#define VECTORS		"../shared/vectors/merkle"
#define VECTOR_MAX	(64 * 1024)	/* bytes of one vector file */
#define NINCLUSION	98		/* files in inclusion/ */
#define NCONSISTENCY	98		/* files in consistency/ */

#define MAXN		300		/* exhaustive: trees of 1..MAXN */
#define SHIFT_ALL	64		/* shift every proof up to this size */
#define LEVELS		10		/* 2^(LEVELS - 1) > MAXN */

/*
 * Vector files whose expected result we deliberately do not share: the
 * upstream verifier takes hashes of any length, we take 32 bytes only.
 */
static const char *divergent[] = {
	/* 12-byte dummy roots, expected to pass upstream. */
	"consistency/additional/sizes-are-equal-one-and-proof-is-empty.json",
};
#define NDIVERGENT	(sizeof(divergent) / sizeof(divergent[0]))

/* An in-memory node store that checks the library keeps its contract. */
struct store {
	uint8_t	 st_node[LEVELS][MAXN][HL];
	uint64_t st_count[LEVELS];	/* nodes stored per level */
	uint64_t st_size;		/* tree size get() may serve */
	long	 st_calls;		/* get() and put() calls so far */
	long	 st_fail;		/* this call fails (-1: none) */
	int	 st_bad;		/* a request outside the contract */
};

struct test_context {
	struct store	tc_st;
	uint8_t		tc_leaf[MAXN][HL];		/* leaf hashes */
	uint8_t		tc_mth[MAXN][MAXN + 1][HL];	/* MTH(D[b:e]) */
	uint8_t		tc_have[MAXN][MAXN + 1];
};

/*
 * Proofs checked; shifted sizes and indices that were rejected, or
 * verified (as the reference does), per shift: -1, +1, x2, /2 of the
 * index (or old size), then of the size.
 */
#define NSHIFT		8
#define SHIFT_N_MINUS	4
#define SHIFT_N_PLUS	5
struct tally {
	unsigned long	t_proofs;
	unsigned long	t_shifted;	/* proofs shifted */
	unsigned long	t_rejected[NSHIFT];
	unsigned long	t_accepted[NSHIFT];
	unsigned long	t_flips;
};

/* --- a naive reference, written from RFC 9162 alone ------------------- */

/* SHA-256(prefix || a || b), without lib/merkle.c. */
static void
ref_hash(uint8_t prefix, const uint8_t *a, size_t alen, const uint8_t *b,
    size_t blen, uint8_t out[HL])
{
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, &prefix, 1);
	if (alen > 0)
		crypto_hash_sha256_update(&st, a, alen);
	if (blen > 0)
		crypto_hash_sha256_update(&st, b, blen);
	crypto_hash_sha256_final(&st, out);
}

static void
ref_node(const uint8_t l[HL], const uint8_t r[HL], uint8_t out[HL])
{

	ref_hash(0x01, l, HL, r, HL, out);
}

/* The largest power of two < n (n >= 2). */
static uint64_t
ref_split(uint64_t n)
{
	uint64_t k = 1;

	while (k <= (n - 1) / 2)
		k <<= 1;
	return (k);
}

/* The data of leaf i: 0..39 bytes, leaf 0 empty. */
static size_t
leaf_data(unsigned i, uint8_t buf[64])
{
	size_t len = i % 40, j;

	for (j = 0; j < len; j++)
		buf[j] = (uint8_t)(i * 31 + j * 7);
	return (len);
}

/* MTH(D[b:e]), 0 <= b < e <= MAXN, memoised. */
static const uint8_t *
mth(struct test_context *tc, uint64_t b, uint64_t e)
{
	uint64_t k;

	if (!tc->tc_have[b][e]) {
		if (e - b == 1) {
			memcpy(tc->tc_mth[b][e], tc->tc_leaf[b], HL);
		} else {
			k = ref_split(e - b);
			ref_node(mth(tc, b, b + k), mth(tc, b + k, e),
			    tc->tc_mth[b][e]);
		}
		tc->tc_have[b][e] = 1;
	}
	return (tc->tc_mth[b][e]);
}

/* PATH(m, D[b:e]) (RFC 9162 2.1.3.1), appended to path. */
static void
ref_path(struct test_context *tc, uint64_t m, uint64_t b, uint64_t e,
    uint8_t path[][HL], size_t *n)
{
	uint64_t k;

	if (e - b == 1)
		return;
	k = ref_split(e - b);
	if (m < k) {
		ref_path(tc, m, b, b + k, path, n);
		memcpy(path[(*n)++], mth(tc, b + k, e), HL);
	} else {
		ref_path(tc, m - k, b + k, e, path, n);
		memcpy(path[(*n)++], mth(tc, b, b + k), HL);
	}
}

/* SUBPROOF(m, D[b:e], whole) (RFC 9162 2.1.4.1), appended to path. */
static void
ref_subproof(struct test_context *tc, uint64_t m, uint64_t b, uint64_t e,
    int whole, uint8_t path[][HL], size_t *n)
{
	uint64_t k;

	if (m == e - b) {
		if (!whole)
			memcpy(path[(*n)++], mth(tc, b, e), HL);
		return;
	}
	k = ref_split(e - b);
	if (m <= k) {
		ref_subproof(tc, m, b, b + k, whole, path, n);
		memcpy(path[(*n)++], mth(tc, b + k, e), HL);
	} else {
		ref_subproof(tc, m - k, b + k, e, 0, path, n);
		memcpy(path[(*n)++], mth(tc, b, b + k), HL);
	}
}

/*
 * The root an inclusion proof gives, by undoing the recursion of PATH:
 * its last hash is the sibling of the top-level half.  Return -1 if the
 * path has the wrong length for (i, n).
 */
static int
ref_incl_root(uint64_t i, uint64_t n, const uint8_t leaf[HL],
    const uint8_t path[][HL], size_t len, uint8_t out[HL])
{
	uint8_t t[HL];
	uint64_t k;

	if (n == 1) {
		if (len != 0)
			return (-1);
		memcpy(out, leaf, HL);
		return (0);
	}
	if (len == 0)
		return (-1);
	k = ref_split(n);
	if (i < k) {
		if (ref_incl_root(i, k, leaf, path, len - 1, t))
			return (-1);
		ref_node(t, path[len - 1], out);
	} else {
		if (ref_incl_root(i - k, n - k, leaf, path, len - 1, t))
			return (-1);
		ref_node(path[len - 1], t, out);
	}
	return (0);
}

static int
ref_verify_inclusion(uint64_t i, uint64_t n, const uint8_t leaf[HL],
    const uint8_t path[][HL], size_t len, const uint8_t root[HL])
{
	uint8_t r[HL];

	if (i >= n || ref_incl_root(i, n, leaf, path, len, r))
		return (-1);
	return (memcmp(r, root, HL) == 0 ? 0 : -1);
}

/*
 * The old and new roots a consistency proof gives, by undoing the
 * recursion of SUBPROOF.  Return -1 if the path has the wrong length.
 */
static int
ref_cons_roots(uint64_t m, uint64_t n, int whole, const uint8_t r1[HL],
    const uint8_t path[][HL], size_t len, uint8_t o[HL], uint8_t nw[HL])
{
	uint8_t to[HL], tn[HL];
	uint64_t k;

	if (m == n) {
		if (whole) {
			if (len != 0)
				return (-1);
			memcpy(o, r1, HL);
			memcpy(nw, r1, HL);
		} else {
			if (len != 1)
				return (-1);
			memcpy(o, path[0], HL);
			memcpy(nw, path[0], HL);
		}
		return (0);
	}
	if (len == 0)
		return (-1);
	k = ref_split(n);
	if (m <= k) {
		if (ref_cons_roots(m, k, whole, r1, path, len - 1, to, tn))
			return (-1);
		memcpy(o, to, HL);
		ref_node(tn, path[len - 1], nw);
	} else {
		if (ref_cons_roots(m - k, n - k, 0, r1, path, len - 1, to,
		    tn))
			return (-1);
		ref_node(path[len - 1], to, o);
		ref_node(path[len - 1], tn, nw);
	}
	return (0);
}

static int
ref_verify_consistency(uint64_t m, uint64_t n, const uint8_t path[][HL],
    size_t len, const uint8_t r1[HL], const uint8_t r2[HL])
{
	uint8_t o[HL], nw[HL];

	if (m == 0 || m > n ||
	    ref_cons_roots(m, n, 1, r1, path, len, o, nw))
		return (-1);
	return (memcmp(o, r1, HL) == 0 && memcmp(nw, r2, HL) == 0 ? 0 : -1);
}

/* --- the store ---------------------------------------------------------- */

static int
store_get(void *cookie, unsigned level, uint64_t index, uint8_t out[HL])
{
	struct store *st = cookie;

	if (st->st_fail == st->st_calls++)
		return (-1);

	/* Only complete subtrees of the tree being asked about. */
	if (level >= LEVELS || index >= st->st_count[level] ||
	    index >= st->st_size >> level) {
		st->st_bad = 1;
		return (-1);
	}
	memcpy(out, st->st_node[level][index], HL);
	return (0);
}

static int
store_put(void *cookie, unsigned level, uint64_t index, const uint8_t h[HL])
{
	struct store *st = cookie;

	if (st->st_fail == st->st_calls++)
		return (-1);

	/* Append-only, in order, and only complete subtrees. */
	if (level >= LEVELS || index != st->st_count[level] ||
	    index >= MAXN || index >= st->st_size >> level) {
		st->st_bad = 1;
		return (-1);
	}
	memcpy(st->st_node[level][index], h, HL);
	st->st_count[level]++;
	return (0);
}

/* Append leaves 0..n-1 of the test context through the library. */
static void
store_build(struct test_context *tc, uint64_t n)
{
	struct store *st = &tc->tc_st;
	uint64_t i;

	for (i = st->st_count[0]; i < n; i++) {
		st->st_size = i + 1;
		assert_int_equal(refx_merkle_append(i, tc->tc_leaf[i],
		    store_get, store_put, st), 0);
	}
	st->st_size = n;
}

/* Bits needed for n - 1: the height of a tree of n leaves. */
static unsigned
height(uint64_t n)
{
	unsigned h = 0;

	while (n > 1) {
		n = (n + 1) / 2;
		h++;
	}
	return (h);
}

static void
unhex(const char *s, uint8_t *out, size_t len)
{
	size_t n;

	assert_int_equal(sodium_hex2bin(out, len, s, strlen(s), NULL, &n,
	    NULL), 0);
	assert_int_equal(n, len);
}

/* --- fixtures ------------------------------------------------------------ */

static int
setup(void **state)
{
	struct test_context *tc;
	uint8_t d[64];
	size_t len;
	unsigned i;

	if ((tc = calloc(1, sizeof(*tc))) == NULL)
		return (-1);
	tc->tc_st.st_fail = -1;
	for (i = 0; i < MAXN; i++) {
		len = leaf_data(i, d);
		ref_hash(0x00, d, len, NULL, 0, tc->tc_leaf[i]);
	}
	*state = tc;
	return (0);
}

static int
teardown(void **state)
{

	free(*state);
	return (0);
}

/* --- known answers ------------------------------------------------------- */

static void
hashes_known_answers(void **state)
{
	uint8_t h[HL], want[HL], l[HL], r[HL], a[HL], b[HL];
	unsigned i;

	(void)state;

	/* RFC 6962 test data (A4.1 of the audit brief). */
	refx_merkle_leaf_hash((const uint8_t *)"L123456", 7, h);
	unhex("395aa064aa4c29f7010acfe3f25db948"
	    "5bbd4b91897b6ad7ad547639252b4d56", want, HL);
	assert_memory_equal(h, want, HL);
	/* (The naive reference's hashing; the library's is checked below.) */
	ref_hash(0x01, (const uint8_t *)"N123", 4, (const uint8_t *)"N456", 4,
	    h);
	unhex("aa217fe888e47007fa15edab33c2b492"
	    "a722cb106c64667fc2b044444de66bbb", want, HL);
	assert_memory_equal(h, want, HL);

	/* The empty root is SHA-256(""); the empty leaf is not. */
	refx_merkle_empty_root(h);
	unhex("e3b0c44298fc1c149afbf4c8996fb924"
	    "27ae41e4649b934ca495991b7852b855", want, HL);
	assert_memory_equal(h, want, HL);
	refx_merkle_leaf_hash(NULL, 0, h);
	unhex("6e340b9cffb37a989ca544e6bb780a2c"
	    "78901d3fb33738768511a30617afa01d", want, HL);
	assert_memory_equal(h, want, HL);

	/* node(l, r) = SHA-256(0x01 || l || r), also in place. */
	for (i = 0; i < 64; i++) {
		randombytes_buf(l, HL);
		randombytes_buf(r, HL);
		ref_node(l, r, want);
		refx_merkle_node_hash(l, r, h);
		assert_memory_equal(h, want, HL);
		memcpy(a, l, HL);
		refx_merkle_node_hash(a, r, a);
		assert_memory_equal(a, want, HL);
		memcpy(b, r, HL);
		refx_merkle_node_hash(l, b, b);
		assert_memory_equal(b, want, HL);
		ref_node(l, l, want);
		memcpy(a, l, HL);
		refx_merkle_node_hash(a, a, a);
		assert_memory_equal(a, want, HL);
	}
}

/* transparency-dev testonly/constants.go, from RFC 6962's test data. */
static const char *rfc_leaves[] = {
	"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
	"606162636465666768696a6b6c6d6e6f",
};
static const char *rfc_roots[] = {
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};
static const char *rfc_nodes[4][8] = {
	{ "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	  "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
	  "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
	  "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
	  "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
	  "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
	  "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
	  "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1" },
	{ "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	  "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	  "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
	  "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0" },
	{ "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	  "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" },
	{ "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328" },
};

static void
rfc6962_roots_and_nodes(void **state)
{
	struct test_context *tc = *state;
	struct store *st = &tc->tc_st;
	struct refx_merkle_range mr, loaded;
	uint8_t d[16], h[HL], want[HL];
	size_t len;
	unsigned size, level, i, bit;

	refx_merkle_range_init(&mr);
	for (size = 0; size <= 8; size++) {
		/* Grow the tree and the compact range by one leaf. */
		if (size > 0) {
			len = strlen(rfc_leaves[size - 1]) / 2;
			unhex(rfc_leaves[size - 1], d, len);
			refx_merkle_leaf_hash(d, len, h);
			st->st_size = size;
			assert_int_equal(refx_merkle_append(size - 1, h,
			    store_get, store_put, st), 0);
			assert_int_equal(refx_merkle_range_append(&mr, h), 0);
		}
		st->st_size = size;

		/* The root, from the store and from the compact range. */
		unhex(rfc_roots[size], want, HL);
		assert_int_equal(refx_merkle_root(size, store_get, st, h), 0);
		assert_memory_equal(h, want, HL);
		assert_int_equal(refx_merkle_range_root(&mr, h), 0);
		assert_memory_equal(h, want, HL);

		/* The compact range is the subtrees at the bits of size. */
		assert_int_equal(refx_merkle_range_load(&loaded, size,
		    store_get, st), 0);
		assert_int_equal(loaded.mr_size, size);
		assert_int_equal(loaded.mr_n, mr.mr_n);
		for (bit = 4, i = 0; bit-- > 0;) {
			if ((size & (1U << bit)) == 0)
				continue;
			unhex(rfc_nodes[bit][(size >> bit) - 1], want, HL);
			assert_memory_equal(loaded.mr_hash[i], want, HL);
			assert_memory_equal(mr.mr_hash[i], want, HL);
			i++;
		}
		assert_int_equal(i, mr.mr_n);
	}

	/* append() stored exactly the complete subtrees, no more. */
	for (level = 0; level < 4; level++) {
		assert_int_equal(st->st_count[level], 8U >> level);
		for (i = 0; i < (8U >> level); i++) {
			unhex(rfc_nodes[level][i], want, HL);
			assert_memory_equal(st->st_node[level][i], want, HL);
		}
	}
	assert_int_equal(st->st_count[4], 0);
	assert_false(st->st_bad);
}

/* --- the transparency-dev vectors ---------------------------------------- */

enum { V_ACCEPT, V_REJECT, V_MALFORMED };

/* Collect the *.json files under VECTORS/rel, as paths relative to it. */
static void
collect(const char *rel, char ***list, size_t *n)
{
	char full[PATH_MAX], sub[PATH_MAX];
	struct dirent *de;
	struct stat sb;
	size_t len;
	DIR *d;

	assert_true((size_t)snprintf(full, sizeof(full), "%s/%s", VECTORS,
	    rel) < sizeof(full));
	if ((d = opendir(full)) == NULL)
		fail_msg("cannot read %s: %s", full, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		assert_true((size_t)snprintf(sub, sizeof(sub), "%s/%s", rel,
		    de->d_name) < sizeof(sub));
		assert_true((size_t)snprintf(full, sizeof(full), "%s/%s",
		    VECTORS, sub) < sizeof(full));
		assert_int_equal(stat(full, &sb), 0);
		if (S_ISDIR(sb.st_mode)) {
			collect(sub, list, n);
			continue;
		}
		len = strlen(sub);
		if (len < 5 || strcmp(sub + len - 5, ".json") != 0)
			continue;
		assert_non_null(*list = realloc(*list,
		    (*n + 1) * sizeof(**list)));
		assert_non_null((*list)[(*n)++] = strdup(sub));
	}
	closedir(d);
}

static int
cmpstr(const void *a, const void *b)
{

	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/*
 * The value of "key" as an unsigned decimal, read from the text: jansson
 * stops at LLONG_MAX and the vectors use 2^64 - 1.  The key must occur
 * once, and agree with jansson's (rounded) reading.
 */
static int
json_u64(const char *text, json_t *obj, const char *key, uint64_t *out)
{
	char pat[64];
	const char *p, *q;
	uint64_t v = 0;
	json_t *j;

	assert_true((size_t)snprintf(pat, sizeof(pat), "\"%s\"", key) <
	    sizeof(pat));
	if ((p = strstr(text, pat)) == NULL || strstr(p + 1, pat) != NULL)
		return (-1);
	p += strlen(pat);
	p += strspn(p, " \t\r\n");
	if (*p++ != ':')
		return (-1);
	p += strspn(p, " \t\r\n");
	if (*p < '0' || *p > '9')
		return (-1);
	for (q = p; *q >= '0' && *q <= '9'; q++) {
		if (v > (UINT64_MAX - (uint64_t)(*q - '0')) / 10)
			return (-1);
		v = v * 10 + (uint64_t)(*q - '0');
	}
	if ((j = json_object_get(obj, key)) == NULL || !json_is_number(j) ||
	    json_number_value(j) != (double)v)
		return (-1);
	*out = v;
	return (0);
}

/*
 * Decode the base64 hash ${j}.  Return 1 if it is 32 bytes, 0 if it is
 * not (our API cannot take it: the case is rejected), -1 if ${j} is not a
 * string.
 */
static int
json_hash(json_t *j, uint8_t out[HL])
{
	uint8_t buf[2 * HL];
	const char *s, *end;
	size_t len;

	if (!json_is_string(j))
		return (-1);
	s = json_string_value(j);
	if (sodium_base642bin(buf, sizeof(buf), s, strlen(s), NULL, &len,
	    &end, sodium_base64_VARIANT_ORIGINAL) != 0 || *end != '\0' ||
	    len != HL)
		return (0);
	memcpy(out, buf, HL);
	return (1);
}

/* Decode "proof" (an array or null); as json_hash. */
static int
json_proof(json_t *obj, uint8_t path[MAXP][HL], size_t *n)
{
	json_t *j = json_object_get(obj, "proof");
	size_t i;
	int ok = 1, r;

	*n = 0;
	if (json_is_null(j))
		return (1);
	if (!json_is_array(j))
		return (-1);
	if (json_array_size(j) > MAXP)
		return (0);
	for (i = 0; i < json_array_size(j); i++) {
		if ((r = json_hash(json_array_get(j, i), path[i])) < 0)
			return (-1);
		ok &= r;
	}
	*n = json_array_size(j);
	return (ok);
}

static int
run_inclusion(json_t *obj, const char *text)
{
	uint8_t leaf[HL], root[HL], path[MAXP][HL];
	uint64_t idx, size;
	size_t n;
	int a, b, c;

	if (json_u64(text, obj, "leafIdx", &idx) ||
	    json_u64(text, obj, "treeSize", &size))
		return (V_MALFORMED);
	a = json_hash(json_object_get(obj, "leafHash"), leaf);
	b = json_hash(json_object_get(obj, "root"), root);
	c = json_proof(obj, path, &n);
	if (a < 0 || b < 0 || c < 0)
		return (V_MALFORMED);
	if (!a || !b || !c)
		return (V_REJECT);
	if (refx_merkle_verify_inclusion(idx, size, leaf, path, n, root))
		return (V_REJECT);
	return (V_ACCEPT);
}

static int
run_consistency(json_t *obj, const char *text)
{
	uint8_t r1[HL], r2[HL], path[MAXP][HL];
	uint64_t m, n;
	size_t np;
	int a, b, c;

	if (json_u64(text, obj, "size1", &m) ||
	    json_u64(text, obj, "size2", &n))
		return (V_MALFORMED);
	a = json_hash(json_object_get(obj, "root1"), r1);
	b = json_hash(json_object_get(obj, "root2"), r2);
	c = json_proof(obj, path, &np);
	if (a < 0 || b < 0 || c < 0)
		return (V_MALFORMED);
	if (!a || !b || !c)
		return (V_REJECT);
	if (refx_merkle_verify_consistency(m, n, path, np, r1, r2))
		return (V_REJECT);
	return (V_ACCEPT);
}

/* Run every file under VECTORS/sub and compare with its "wantErr". */
static void
run_vectors(const char *sub, int (*run)(json_t *, const char *),
    size_t nwant)
{
	char full[PATH_MAX], cwd[PATH_MAX], *text, **list = NULL;
	size_t n = 0, i, k, len, ok = 0, nerr = 0, ndiv = 0, bad = 0;
	json_error_t jerr;
	struct stat sb;
	json_t *obj, *want;
	FILE *f;
	int got, div;

	/* A missing vector folder is a failure, not a skip. */
	if (stat(VECTORS, &sb) != 0 || !S_ISDIR(sb.st_mode))
		fail_msg("Merkle vectors missing: %s (from %s): run the test "
		    "from the repo root, with ../shared/vectors/merkle present",
		    VECTORS, getcwd(cwd, sizeof(cwd)) ? cwd : "?");
	collect(sub, &list, &n);
	qsort(list, n, sizeof(*list), cmpstr);

	for (i = 0; i < n; i++) {
		/* Read and parse the file. */
		assert_true((size_t)snprintf(full, sizeof(full), "%s/%s",
		    VECTORS, list[i]) < sizeof(full));
		assert_non_null(f = fopen(full, "r"));
		assert_non_null(text = malloc(VECTOR_MAX + 1));
		len = fread(text, 1, VECTOR_MAX + 1, f);
		assert_false(ferror(f));
		fclose(f);
		assert_true(len <= VECTOR_MAX);
		text[len] = '\0';
		if ((obj = json_loadb(text, len, JSON_DECODE_INT_AS_REAL,
		    &jerr)) == NULL)
			fail_msg("%s: %s", list[i], jerr.text);
		want = json_object_get(obj, "wantErr");
		if (!json_is_boolean(want))
			fail_msg("%s: no wantErr", list[i]);

		/* Run it. */
		got = run(obj, text);
		if (got == V_MALFORMED)
			fail_msg("%s: malformed vector", list[i]);
		for (div = 0, k = 0; k < NDIVERGENT; k++)
			div |= strcmp(list[i], divergent[k]) == 0;
		if (div) {
			/* Upstream accepts it; we must reject it. */
			assert_true(json_is_false(want));
			if (got != V_REJECT) {
				print_error("%s: known divergence, but "
				    "accepted\n", list[i]);
				bad++;
			}
			ndiv++;
		} else if ((got == V_REJECT) != json_is_true(want)) {
			print_error("%s: want %s, got %s\n", list[i],
			    json_is_true(want) ? "error" : "success",
			    got == V_REJECT ? "error" : "success");
			bad++;
		} else {
			ok++;
			nerr += got == V_REJECT;
		}
		json_decref(obj);
		free(text);
		free(list[i]);
	}
	free(list);

	print_message("%s: %zu files: %zu agree (%zu rejected, %zu "
	    "accepted), %zu known divergence(s) rejected, %zu wrong\n", sub,
	    n, ok, nerr, ok - nerr, ndiv, bad);
	assert_int_equal(bad, 0);
	assert_int_equal(n, nwant);
	if (strcmp(sub, "consistency") == 0)
		assert_int_equal(ndiv, NDIVERGENT);
	else
		assert_int_equal(ndiv, 0);
}

static void
vectors_inclusion(void **state)
{

	(void)state;
	run_vectors("inclusion", run_inclusion, NINCLUSION);
}

static void
vectors_consistency(void **state)
{

	(void)state;
	run_vectors("consistency", run_consistency, NCONSISTENCY);
}

/* --- every tree up to MAXN leaves ----------------------------------------- */

/*
 * Verify a proof with i or n shifted by -1, +1, x2, /2: the library must
 * agree with the recursive reference.  Shifting i (or m) always fails.
 * Shifting n by one verifies, correctly, when (i, n +- 1) folds the same
 * hashes in the same order as (i, n) (leaf 0 of 3 and of 4): a root does
 * not commit to a size (the checkpoint signs both).
 */
static void
shift_inclusion(uint64_t i, uint64_t n, const uint8_t leaf[HL],
    const uint8_t path[][HL], size_t np, const uint8_t root[HL],
    struct tally *t)
{
	const uint64_t v[8][2] = {
		{ i - 1, n }, { i + 1, n }, { i * 2, n }, { i / 2, n },
		{ i, n - 1 }, { i, n + 1 }, { i, n * 2 }, { i, n / 2 },
	};
	unsigned k;
	int got, want;

	t->t_shifted++;
	for (k = 0; k < 8; k++) {
		if (v[k][0] == i && v[k][1] == n)
			continue;
		got = refx_merkle_verify_inclusion(v[k][0], v[k][1], leaf,
		    path, np, root);
		want = ref_verify_inclusion(v[k][0], v[k][1], leaf, path, np,
		    root);
		if (got != want)
			fail_msg("inclusion (%lu, %lu) shifted to (%lu, %lu): "
			    "library %d, reference %d", (unsigned long)i,
			    (unsigned long)n, (unsigned long)v[k][0],
			    (unsigned long)v[k][1], got, want);
		if (got == 0)
			t->t_accepted[k]++;
		else
			t->t_rejected[k]++;
	}
}

/* As shift_inclusion, for (m, n), and with the roots swapped. */
static void
shift_consistency(uint64_t m, uint64_t n, const uint8_t path[][HL],
    size_t np, const uint8_t r1[HL], const uint8_t r2[HL], struct tally *t)
{
	const uint64_t v[8][2] = {
		{ m - 1, n }, { m + 1, n }, { m * 2, n }, { m / 2, n },
		{ m, n - 1 }, { m, n + 1 }, { m, n * 2 }, { m, n / 2 },
	};
	unsigned k;
	int got, want;

	t->t_shifted++;
	for (k = 0; k < 8; k++) {
		if (v[k][0] == m && v[k][1] == n)
			continue;
		got = refx_merkle_verify_consistency(v[k][0], v[k][1], path,
		    np, r1, r2);
		want = ref_verify_consistency(v[k][0], v[k][1], path, np, r1,
		    r2);
		if (got != want)
			fail_msg("consistency (%lu, %lu) shifted to (%lu, %lu):"
			    " library %d, reference %d", (unsigned long)m,
			    (unsigned long)n, (unsigned long)v[k][0],
			    (unsigned long)v[k][1], got, want);
		if (got == 0)
			t->t_accepted[k]++;
		else
			t->t_rejected[k]++;
	}
	if (memcmp(r1, r2, HL) != 0)
		assert_int_equal(refx_merkle_verify_consistency(m, n, path,
		    np, r2, r1), -1);
}

/*
 * Shift the proofs of small trees, and of larger ones the edges, the
 * middle and every 17th: all of them takes too long under ASan.
 */
static int
sampled(uint64_t i, uint64_t n)
{

	return (n <= SHIFT_ALL || i < 2 || i + 2 >= n || i == n / 2 ||
	    i == n / 3 || i % 17 == 0);
}

/* Print the shifts; only n +- 1 may verify (with the same hash shape). */
static void
tally_report(const char *idx, const struct tally *t)
{
	unsigned long rej = 0;
	unsigned k;

	for (k = 0; k < NSHIFT; k++) {
		rej += t->t_rejected[k];
		if (k != SHIFT_N_MINUS && k != SHIFT_N_PLUS)
			assert_int_equal(t->t_accepted[k], 0);
	}
	print_message("  %lu proofs with %s or n shifted: %lu rejected; %s-1 "
	    "%s+1 %sx2 %s/2 nx2 n/2 never verify; n-1 verified %lu times, n+1 "
	    "%lu times, as the reference does (same hash shape)\n",
	    t->t_shifted, idx, rej, idx, idx, idx, idx,
	    t->t_accepted[SHIFT_N_MINUS], t->t_accepted[SHIFT_N_PLUS]);
}

static void
every_tree(void **state)
{
	struct test_context *tc = *state;
	struct store *st = &tc->tc_st;
	struct refx_merkle_range mr, loaded;
	uint8_t h[HL], path[MAXP][HL], ref[MAXP][HL];
	const uint8_t *root, *r1;
	struct tally ti = { 0 }, tcons = { 0 };
	uint64_t n, i, m;
	size_t np, nref;
	long calls;

	refx_merkle_range_init(&mr);
	for (n = 1; n <= MAXN; n++) {
		/* Append leaf n - 1 to the store and to a compact range. */
		store_build(tc, n);
		assert_int_equal(refx_merkle_range_append(&mr,
		    tc->tc_leaf[n - 1]), 0);

		/* Three roots, one answer. */
		root = mth(tc, 0, n);
		calls = st->st_calls;
		assert_int_equal(refx_merkle_root(n, store_get, st, h), 0);
		assert_true(st->st_calls - calls <= height(n) + 1);
		assert_memory_equal(h, root, HL);
		assert_int_equal(refx_merkle_range_root(&mr, h), 0);
		assert_memory_equal(h, root, HL);
		assert_int_equal(refx_merkle_range_load(&loaded, n, store_get,
		    st), 0);
		assert_int_equal(loaded.mr_size, n);
		assert_int_equal(loaded.mr_n, mr.mr_n);
		assert_memory_equal(loaded.mr_hash, mr.mr_hash, mr.mr_n * HL);

		/* Every inclusion proof: as RFC 9162 defines it, and valid. */
		for (i = 0; i < n; i++) {
			calls = st->st_calls;
			assert_int_equal(refx_merkle_inclusion_proof(i, n,
			    store_get, st, path, &np), 0);
			assert_true(st->st_calls - calls <= 2 * height(n));
			nref = 0;
			ref_path(tc, i, 0, n, ref, &nref);
			assert_int_equal(np, nref);
			assert_true(np <= height(n));
			if (np > 0)
				assert_memory_equal(path, ref, np * HL);
			assert_int_equal(refx_merkle_verify_inclusion(i, n,
			    tc->tc_leaf[i], path, np, root), 0);
			assert_int_equal(ref_verify_inclusion(i, n,
			    tc->tc_leaf[i], path, np, root), 0);
			if (sampled(i, n))
				shift_inclusion(i, n, tc->tc_leaf[i], path, np,
				    root, &ti);
			ti.t_proofs++;
		}

		/* Every consistency proof from every earlier size. */
		for (m = 1; m <= n; m++) {
			r1 = mth(tc, 0, m);
			calls = st->st_calls;
			assert_int_equal(refx_merkle_consistency_proof(m, n,
			    store_get, st, path, &np), 0);
			assert_true(st->st_calls - calls <= 2 * height(n) + 1);
			nref = 0;
			if (m < n)
				ref_subproof(tc, m, 0, n, 1, ref, &nref);
			assert_int_equal(np, nref);
			assert_true(np <= height(n) + 1);
			if (np > 0)
				assert_memory_equal(path, ref, np * HL);
			assert_int_equal(refx_merkle_verify_consistency(m, n,
			    path, np, r1, root), 0);
			assert_int_equal(ref_verify_consistency(m, n, path, np,
			    r1, root), 0);
			if (sampled(m, n))
				shift_consistency(m, n, path, np, r1, root,
				    &tcons);
			tcons.t_proofs++;
		}
	}
	assert_false(st->st_bad);
	print_message("trees of 1..%d leaves: %lu inclusion proofs, %lu "
	    "consistency proofs: all equal to the reference and verified\n",
	    MAXN, ti.t_proofs, tcons.t_proofs);
	tally_report("i", &ti);
	tally_report("m", &tcons);
}

/* --- tampering: every bit of a sample of proofs ------------------------- */

static const uint64_t sample_sizes[] = {
	1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 100, 256, 300,
};

static void
flip(uint8_t *p, unsigned bit)
{

	p[bit / 8] ^= (uint8_t)(1U << (bit % 8));
}

static void
flip_inclusion(uint64_t i, uint64_t n, const uint8_t leaf_in[HL],
    uint8_t path[][HL], size_t np, const uint8_t root_in[HL],
    struct tally *t)
{
	uint8_t leaf[HL], root[HL];
	unsigned bit;
	size_t k;

	memcpy(leaf, leaf_in, HL);
	memcpy(root, root_in, HL);
	for (bit = 0; bit < 8 * HL; bit++) {
		for (k = 0; k < np; k++) {
			flip(path[k], bit);
			assert_int_equal(refx_merkle_verify_inclusion(i, n,
			    leaf, path, np, root), -1);
			flip(path[k], bit);
			t->t_flips++;
		}
		flip(leaf, bit);
		assert_int_equal(refx_merkle_verify_inclusion(i, n, leaf,
		    path, np, root), -1);
		flip(leaf, bit);
		flip(root, bit);
		assert_int_equal(refx_merkle_verify_inclusion(i, n, leaf,
		    path, np, root), -1);
		flip(root, bit);
		t->t_flips += 2;
	}
	assert_int_equal(refx_merkle_verify_inclusion(i, n, leaf, path, np,
	    root), 0);
}

static void
flip_consistency(uint64_t m, uint64_t n, uint8_t path[][HL], size_t np,
    const uint8_t r1_in[HL], const uint8_t r2_in[HL], struct tally *t)
{
	uint8_t r1[HL], r2[HL];
	unsigned bit;
	size_t k;

	memcpy(r1, r1_in, HL);
	memcpy(r2, r2_in, HL);
	for (bit = 0; bit < 8 * HL; bit++) {
		for (k = 0; k < np; k++) {
			flip(path[k], bit);
			assert_int_equal(refx_merkle_verify_consistency(m, n,
			    path, np, r1, r2), -1);
			flip(path[k], bit);
			t->t_flips++;
		}
		flip(r1, bit);
		assert_int_equal(refx_merkle_verify_consistency(m, n, path,
		    np, r1, r2), -1);
		flip(r1, bit);
		flip(r2, bit);
		assert_int_equal(refx_merkle_verify_consistency(m, n, path,
		    np, r1, r2), -1);
		flip(r2, bit);
		t->t_flips += 2;
	}
	assert_int_equal(refx_merkle_verify_consistency(m, n, path, np, r1,
	    r2), 0);
}

static void
tampering(void **state)
{
	struct test_context *tc = *state;
	struct store *st = &tc->tc_st;
	uint8_t path[MAXP][HL];
	struct tally t = { 0 };
	uint64_t n, pick[4];
	size_t s, k, np;

	store_build(tc, MAXN);
	for (s = 0; s < sizeof(sample_sizes) / sizeof(sample_sizes[0]); s++) {
		n = sample_sizes[s];
		st->st_size = n;
		pick[0] = 0;
		pick[1] = n / 3;
		pick[2] = n / 2;
		pick[3] = n - 1;

		/* Leaves and old sizes at the edges and in the middle. */
		for (k = 0; k < 4; k++) {
			if (k > 0 && pick[k] == pick[k - 1])
				continue;
			assert_int_equal(refx_merkle_inclusion_proof(pick[k],
			    n, store_get, st, path, &np), 0);
			flip_inclusion(pick[k], n, tc->tc_leaf[pick[k]], path,
			    np, mth(tc, 0, n), &t);
			t.t_proofs++;
			assert_int_equal(refx_merkle_consistency_proof(
			    pick[k] + 1, n, store_get, st, path, &np), 0);
			flip_consistency(pick[k] + 1, n, path, np,
			    mth(tc, 0, pick[k] + 1), mth(tc, 0, n), &t);
			t.t_proofs++;
		}
	}
	assert_false(st->st_bad);
	print_message("tampering: %lu proofs, %lu single-bit flips of "
	    "proof, leaf and roots: all rejected\n", t.t_proofs, t.t_flips);
}

/* --- argument edges ------------------------------------------------------- */

static void
edges(void **state)
{
	struct test_context *tc = *state;
	struct store *st = &tc->tc_st;
	struct refx_merkle_range mr;
	uint8_t h[HL], e[HL], path[MAXP][HL];
	size_t np;
	long calls;

	store_build(tc, 5);
	memset(path, 0, sizeof(path));

	/* The empty tree: a root, and no proofs. */
	refx_merkle_empty_root(e);
	calls = st->st_calls;
	assert_int_equal(refx_merkle_root(0, store_get, st, h), 0);
	assert_memory_equal(h, e, HL);
	assert_int_equal(st->st_calls, calls);
	np = 99;
	assert_int_equal(refx_merkle_inclusion_proof(0, 0, store_get, st,
	    path, &np), -1);
	assert_int_equal(np, 0);

	/* Indices past the end; sizes past the cap. */
	np = 99;
	assert_int_equal(refx_merkle_inclusion_proof(5, 5, store_get, st,
	    path, &np), -1);
	assert_int_equal(np, 0);
	assert_int_equal(refx_merkle_inclusion_proof(UINT64_MAX, 5,
	    store_get, st, path, &np), -1);
	assert_int_equal(refx_merkle_inclusion_proof(0, MAXS + 1, store_get,
	    st, path, &np), -1);
	assert_int_equal(refx_merkle_root(MAXS + 1, store_get, st, h), -1);
	assert_int_equal(refx_merkle_range_load(&mr, MAXS + 1, store_get,
	    st), -1);
	assert_int_equal(mr.mr_size, 0);
	assert_int_equal(refx_merkle_root(UINT64_MAX, store_get, st, h), -1);

	/* Consistency: from 0 never; backwards never; m == n trivially. */
	np = 99;
	assert_int_equal(refx_merkle_consistency_proof(0, 0, store_get, st,
	    path, &np), -1);
	assert_int_equal(np, 0);
	assert_int_equal(refx_merkle_consistency_proof(0, 5, store_get, st,
	    path, &np), -1);
	assert_int_equal(refx_merkle_consistency_proof(5, 4, store_get, st,
	    path, &np), -1);
	assert_int_equal(refx_merkle_consistency_proof(1, MAXS + 1,
	    store_get, st, path, &np), -1);
	np = 99;
	assert_int_equal(refx_merkle_consistency_proof(5, 5, store_get, st,
	    path, &np), 0);
	assert_int_equal(np, 0);

	/* Verifying inclusion. */
	assert_int_equal(refx_merkle_verify_inclusion(0, 1, tc->tc_leaf[0],
	    NULL, 0, tc->tc_leaf[0]), 0);
	assert_int_equal(refx_merkle_verify_inclusion(0, 1, tc->tc_leaf[0],
	    path, 0, tc->tc_leaf[0]), 0);
	assert_int_equal(refx_merkle_verify_inclusion(0, 1, tc->tc_leaf[0],
	    path, 1, tc->tc_leaf[0]), -1);
	assert_int_equal(refx_merkle_verify_inclusion(0, 0, tc->tc_leaf[0],
	    NULL, 0, tc->tc_leaf[0]), -1);
	assert_int_equal(refx_merkle_verify_inclusion(1, 1, tc->tc_leaf[0],
	    NULL, 0, tc->tc_leaf[0]), -1);
	assert_int_equal(refx_merkle_verify_inclusion(0, 2, tc->tc_leaf[0],
	    NULL, 0, tc->tc_leaf[0]), -1);
	assert_int_equal(refx_merkle_verify_inclusion(0, 2, tc->tc_leaf[0],
	    NULL, 1, tc->tc_leaf[0]), -1);
	assert_int_equal(refx_merkle_verify_inclusion(0, MAXS + 1,
	    tc->tc_leaf[0], path, MAXP, tc->tc_leaf[0]), -1);
	assert_int_equal(refx_merkle_verify_inclusion(0, 5, tc->tc_leaf[0],
	    path, MAXP + 1, tc->tc_leaf[0]), -1);

	/* Verifying consistency. */
	assert_int_equal(refx_merkle_verify_consistency(0, 0, NULL, 0, e, e),
	    -1);
	assert_int_equal(refx_merkle_verify_consistency(0, 1, path, 1, e, e),
	    -1);
	assert_int_equal(refx_merkle_verify_consistency(1, 1, NULL, 0, e, e),
	    0);
	assert_int_equal(refx_merkle_verify_consistency(1, 1, path, 1, e, e),
	    -1);
	assert_int_equal(refx_merkle_verify_consistency(1, 1, NULL, 0, e,
	    tc->tc_leaf[0]), -1);
	assert_int_equal(refx_merkle_verify_consistency(2, 1, NULL, 0, e, e),
	    -1);
	assert_int_equal(refx_merkle_verify_consistency(1, 2, NULL, 0, e, e),
	    -1);
	assert_int_equal(refx_merkle_verify_consistency(1, 2, NULL, 1, e, e),
	    -1);
	assert_int_equal(refx_merkle_verify_consistency(1, 3, path, MAXP + 1,
	    e, e), -1);
	assert_int_equal(refx_merkle_verify_consistency(MAXS + 1, MAXS + 1,
	    NULL, 0, e, e), -1);

	/* Appending past the cap, or out of order. */
	calls = st->st_calls;
	assert_int_equal(refx_merkle_append(MAXS, tc->tc_leaf[0], store_get,
	    store_put, st), -1);
	assert_int_equal(refx_merkle_append(UINT64_MAX, tc->tc_leaf[0],
	    store_get, store_put, st), -1);
	assert_int_equal(st->st_calls, calls);

	/* Compact ranges: empty, full, or not made by us. */
	memset(&mr, 0, sizeof(mr));
	refx_merkle_range_init(&mr);
	assert_int_equal(refx_merkle_range_root(&mr, h), 0);
	assert_memory_equal(h, e, HL);
	mr.mr_n = 1;
	assert_int_equal(refx_merkle_range_root(&mr, h), -1);
	assert_int_equal(refx_merkle_range_append(&mr, e), -1);
	assert_int_equal(mr.mr_n, 1);
	mr.mr_size = MAXS;
	assert_int_equal(refx_merkle_range_root(&mr, h), 0);
	assert_int_equal(refx_merkle_range_append(&mr, e), -1);
	assert_int_equal(mr.mr_size, MAXS);
	mr.mr_size = UINT64_MAX;
	mr.mr_n = 64;
	assert_int_equal(refx_merkle_range_root(&mr, h), -1);
	assert_int_equal(refx_merkle_range_append(&mr, e), -1);
	mr.mr_size = 3;
	mr.mr_n = UINT_MAX;
	assert_int_equal(refx_merkle_range_root(&mr, h), -1);
	assert_int_equal(refx_merkle_range_append(&mr, e), -1);
	assert_false(st->st_bad);
}

/* --- failing callbacks ---------------------------------------------------- */

enum { OP_ROOT, OP_INCL, OP_INCL_LAST, OP_CONS, OP_CONS_POW2, OP_LOAD };

static int
run_op(int op, struct store *st, size_t *np)
{
	struct refx_merkle_range mr;
	uint8_t h[HL], path[MAXP][HL];
	int r;

	*np = 0;
	switch (op) {
	case OP_ROOT:
		return (refx_merkle_root(st->st_size, store_get, st, h));
	case OP_INCL:
		return (refx_merkle_inclusion_proof(5, st->st_size, store_get,
		    st, path, np));
	case OP_INCL_LAST:
		return (refx_merkle_inclusion_proof(st->st_size - 1,
		    st->st_size, store_get, st, path, np));
	case OP_CONS:
		return (refx_merkle_consistency_proof(13, st->st_size,
		    store_get, st, path, np));
	case OP_CONS_POW2:
		return (refx_merkle_consistency_proof(16, st->st_size,
		    store_get, st, path, np));
	default:
		r = refx_merkle_range_load(&mr, st->st_size, store_get, st);
		if (r != 0) {
			/* A failed load leaves the range empty. */
			assert_int_equal(mr.mr_size, 0);
			assert_int_equal(mr.mr_n, 0);
		}
		return (r);
	}
}

static void
callback_failures(void **state)
{
	struct test_context *tc = *state;
	struct store *st = &tc->tc_st, *copy;
	long calls, k;
	size_t np;
	int op;

	/* 39 = 100111b: a ragged right edge at every level. */
	store_build(tc, 39);

	/* Each get() in turn fails: the whole call fails. */
	for (op = OP_ROOT; op <= OP_LOAD; op++) {
		calls = st->st_calls;
		assert_int_equal(run_op(op, st, &np), 0);
		calls = st->st_calls - calls;
		assert_true(calls > 0);
		for (k = 0; k < calls; k++) {
			st->st_fail = st->st_calls + k;
			assert_int_equal(run_op(op, st, &np), -1);
			assert_int_equal(np, 0);
		}
		st->st_fail = -1;
	}

	/* Appending leaf 39 makes 4 puts and 3 gets; fail each. */
	assert_non_null(copy = malloc(sizeof(*copy)));
	for (k = 0; k < 7; k++) {
		memcpy(copy, st, sizeof(*copy));
		copy->st_size = 40;
		copy->st_fail = copy->st_calls + k;
		assert_int_equal(refx_merkle_append(39, tc->tc_leaf[39],
		    store_get, store_put, copy), -1);
		assert_false(copy->st_bad);
	}
	memcpy(copy, st, sizeof(*copy));
	copy->st_size = 40;
	calls = copy->st_calls;
	assert_int_equal(refx_merkle_append(39, tc->tc_leaf[39], store_get,
	    store_put, copy), 0);
	assert_int_equal(copy->st_calls - calls, 7);
	assert_int_equal(copy->st_count[3], 5);
	assert_false(copy->st_bad);
	free(copy);
	assert_false(st->st_bad);
}

/* --- 2^63 leaves: a virtual store of identical leaves --------------------- */

struct uniform {
	uint8_t	 u_z[64][HL];		/* a subtree of 2^L equal leaves */
	uint64_t u_size;
	long	 u_puts;
	int	 u_bad;
};

static int
uniform_get(void *cookie, unsigned level, uint64_t index, uint8_t out[HL])
{
	struct uniform *u = cookie;

	if (level > 63 || index >= u->u_size >> level) {
		u->u_bad = 1;
		return (-1);
	}
	memcpy(out, u->u_z[level], HL);
	return (0);
}

static int
uniform_put(void *cookie, unsigned level, uint64_t index,
    const uint8_t h[HL])
{
	struct uniform *u = cookie;

	if (level > 63 || index >= u->u_size >> level ||
	    memcmp(h, u->u_z[level], HL) != 0) {
		u->u_bad = 1;
		return (-1);
	}
	u->u_puts++;
	return (0);
}

/* MTH of n equal leaves, recursively. */
static void
uniform_root(const struct uniform *u, uint64_t n, uint8_t out[HL])
{
	uint8_t t[HL];
	uint64_t k;
	unsigned l;

	if ((n & (n - 1)) == 0) {
		for (l = 0; (UINT64_C(1) << l) != n; l++)
			;
		memcpy(out, u->u_z[l], HL);
		return;
	}
	k = ref_split(n);
	for (l = 0; (UINT64_C(1) << l) != k; l++)
		;
	uniform_root(u, n - k, t);
	ref_node(u->u_z[l], t, out);
}

static void
huge_trees(void **state)
{
	static const uint64_t sizes[] = {
		MAXS, MAXS - 1, MAXS / 2 + 1, (MAXS / 2) + 12345, 3,
		UINT64_C(0x5555555555555555),
	};
	struct uniform *u;
	struct refx_merkle_range mr;
	uint8_t root[HL], h[HL], path[MAXP][HL];
	uint64_t n, pick[6];
	size_t s, k, np, maxinc = 0, maxcons = 0;
	unsigned l;

	(void)state;
	assert_non_null(u = calloc(1, sizeof(*u)));
	refx_merkle_leaf_hash((const uint8_t *)"x", 1, u->u_z[0]);
	for (l = 1; l < 64; l++)
		ref_node(u->u_z[l - 1], u->u_z[l - 1], u->u_z[l]);

	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		n = u->u_size = sizes[s];

		/* The root, from the store and from its compact range. */
		uniform_root(u, n, root);
		assert_int_equal(refx_merkle_root(n, uniform_get, u, h), 0);
		assert_memory_equal(h, root, HL);
		assert_int_equal(refx_merkle_range_load(&mr, n, uniform_get,
		    u), 0);
		assert_int_equal(refx_merkle_range_root(&mr, h), 0);
		assert_memory_equal(h, root, HL);

		pick[0] = 0;
		pick[1] = 1;
		pick[2] = n / 3;
		pick[3] = n / 2;
		pick[4] = n - 2;
		pick[5] = n - 1;
		for (k = 0; k < 6; k++) {
			assert_int_equal(refx_merkle_inclusion_proof(pick[k],
			    n, uniform_get, u, path, &np), 0);
			assert_int_equal(refx_merkle_verify_inclusion(pick[k],
			    n, u->u_z[0], path, np, root), 0);
			maxinc = np > maxinc ? np : maxinc;
			if (pick[k] == 0)
				continue;
			uniform_root(u, pick[k], h);
			assert_int_equal(refx_merkle_consistency_proof(pick[k],
			    n, uniform_get, u, path, &np), 0);
			assert_int_equal(refx_merkle_verify_consistency(
			    pick[k], n, path, np, h, root), 0);
			maxcons = np > maxcons ? np : maxcons;
		}
	}

	/* The longest proofs fit, exactly. */
	assert_int_equal(maxinc, 63);
	assert_int_equal(maxcons, MAXP);
	u->u_size = MAXS;
	assert_int_equal(refx_merkle_consistency_proof(MAXS - 1, MAXS,
	    uniform_get, u, path, &np), 0);
	assert_int_equal(np, MAXP);

	/* Leaf 2^63 - 1 completes 63 parents; no leaf comes after it. */
	assert_int_equal(refx_merkle_append(MAXS - 1, u->u_z[0], uniform_get,
	    uniform_put, u), 0);
	assert_int_equal(u->u_puts, 64);
	assert_int_equal(refx_merkle_append(MAXS, u->u_z[0], uniform_get,
	    uniform_put, u), -1);
	assert_int_equal(u->u_puts, 64);

	/* The compact range fills up the same way. */
	u->u_size = MAXS - 1;
	assert_int_equal(refx_merkle_range_load(&mr, MAXS - 1, uniform_get,
	    u), 0);
	assert_int_equal(mr.mr_n, 63);
	assert_int_equal(refx_merkle_range_append(&mr, u->u_z[0]), 0);
	assert_int_equal(mr.mr_n, 1);
	assert_int_equal(mr.mr_size, MAXS);
	assert_int_equal(refx_merkle_range_root(&mr, h), 0);
	assert_memory_equal(h, u->u_z[63], HL);
	assert_int_equal(refx_merkle_range_append(&mr, u->u_z[0]), -1);

	/* One past the cap: refused everywhere. */
	u->u_size = MAXS + 1;
	assert_int_equal(refx_merkle_root(MAXS + 1, uniform_get, u, h), -1);
	assert_int_equal(refx_merkle_inclusion_proof(0, MAXS + 1,
	    uniform_get, u, path, &np), -1);
	assert_int_equal(refx_merkle_consistency_proof(1, MAXS + 1,
	    uniform_get, u, path, &np), -1);
	assert_int_equal(refx_merkle_verify_consistency(MAXS, MAXS + 1, path,
	    1, u->u_z[63], u->u_z[63]), -1);
	assert_false(u->u_bad);
	free(u);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hashes_known_answers),
		cmocka_unit_test_setup_teardown(rfc6962_roots_and_nodes, setup,
		    teardown),
		cmocka_unit_test(vectors_inclusion),
		cmocka_unit_test(vectors_consistency),
		cmocka_unit_test_setup_teardown(every_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(tampering, setup, teardown),
		cmocka_unit_test_setup_teardown(edges, setup, teardown),
		cmocka_unit_test_setup_teardown(callback_failures, setup,
		    teardown),
		cmocka_unit_test(huge_trees),
	};

	if (sodium_init() < 0)
		return (1);
	return (cmocka_run_group_tests_name("merkle", tests, NULL, NULL));
}
