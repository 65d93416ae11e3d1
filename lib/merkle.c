/*
 * RFC 9162 Merkle trees over SHA-256: hashing, proofs from a store of
 * complete subtrees, proof verification and compact ranges
 * (docs/internals/merkle.md).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "refx/merkle.h"

#define HLEN		REFX_MERKLE_HASH_LEN
#define LEAF_PREFIX	0x00
#define NODE_PREFIX	0x01

/* The largest power of two strictly less than ${n}; ${n} >= 2. */
static uint64_t
split(uint64_t n)
{

	return (UINT64_C(1) << (63 - __builtin_clzll(n - 1)));
}

/* Is ${n} a power of two?  ${n} >= 1. */
static int
ispow2(uint64_t n)
{

	return ((n & (n - 1)) == 0);
}

/** refx_merkle_leaf_hash(data, len, out): SHA-256(0x00 || data). */
void
refx_merkle_leaf_hash(const uint8_t *data, size_t len,
    uint8_t out[REFX_MERKLE_HASH_LEN])
{
	crypto_hash_sha256_state st;
	const uint8_t prefix = LEAF_PREFIX;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, &prefix, 1);
	if (len > 0)
		crypto_hash_sha256_update(&st, data, len);
	crypto_hash_sha256_final(&st, out);
}

/**
 * refx_merkle_node_hash(l, r, out): SHA-256(0x01 || l || r).  ${out} may
 * be ${l} or ${r}.
 */
void
refx_merkle_node_hash(const uint8_t l[REFX_MERKLE_HASH_LEN],
    const uint8_t r[REFX_MERKLE_HASH_LEN], uint8_t out[REFX_MERKLE_HASH_LEN])
{
	uint8_t in[1 + 2 * HLEN];

	/* Copy first: ${out} may alias an input. */
	in[0] = NODE_PREFIX;
	memcpy(in + 1, l, HLEN);
	memcpy(in + 1 + HLEN, r, HLEN);
	crypto_hash_sha256(out, in, sizeof(in));
}

/** refx_merkle_empty_root(out): The root of the empty tree, SHA-256(""). */
void
refx_merkle_empty_root(uint8_t out[REFX_MERKLE_HASH_LEN])
{

	crypto_hash_sha256(out, (const uint8_t *)"", 0);
}

/*
 * Write MTH(D[begin:end]) to ${out}, for a range of the RFC recursion:
 * end > begin, and begin a multiple of the smallest power of two >=
 * end - begin.  The range is then the complete subtrees at the set bits
 * of its length, largest first; fold them from the right.
 */
static int
subtree(uint64_t begin, uint64_t end, refx_merkle_get_fn get, void *cookie,
    uint8_t out[HLEN])
{
	uint64_t len = end - begin, off;
	uint8_t h[HLEN];
	unsigned level;
	int first = 1;

	for (level = 0; level < 64; level++) {
		if ((len & (UINT64_C(1) << level)) == 0)
			continue;

		/* The subtree at this bit starts after the higher bits. */
		off = level >= 63 ? 0 : (len >> (level + 1)) << (level + 1);
		if (first) {
			if (get(cookie, level, (begin + off) >> level, out))
				return (-1);
			first = 0;
			continue;
		}
		if (get(cookie, level, (begin + off) >> level, h))
			return (-1);
		refx_merkle_node_hash(h, out, out);
	}
	return (0);
}

/* Reverse the first ${n} hashes of ${path}: proofs are built top-down. */
static void
reverse(uint8_t path[][HLEN], size_t n)
{
	uint8_t t[HLEN];
	size_t i;

	for (i = 0; i < n / 2; i++) {
		memcpy(t, path[i], HLEN);
		memcpy(path[i], path[n - 1 - i], HLEN);
		memcpy(path[n - 1 - i], t, HLEN);
	}
}

/**
 * refx_merkle_append(index, leaf, get, put, cookie): Add the leaf hash
 * ${leaf} at ${index} (the current tree size): put() the leaf as (0,
 * ${index}), then each parent it completes, lowest level first (at most
 * log2(n) + 1 calls), reading left siblings with get().  Return 0, or -1
 * if a callback fails (the caller rolls back) or ${index} is
 * REFX_MERKLE_MAX_SIZE or more.
 */
int
refx_merkle_append(uint64_t index, const uint8_t leaf[REFX_MERKLE_HASH_LEN],
    refx_merkle_get_fn get, refx_merkle_put_fn put, void *cookie)
{
	uint8_t h[HLEN], sib[HLEN];
	uint64_t i;
	unsigned level;

	if (index >= REFX_MERKLE_MAX_SIZE)
		goto err0;
	if (put(cookie, 0, index, leaf))
		goto err0;

	/* While this node is a right child, its parent is now complete. */
	memcpy(h, leaf, HLEN);
	for (level = 0, i = index; i & 1; level++, i >>= 1) {
		if (get(cookie, level, i - 1, sib))
			goto err0;
		refx_merkle_node_hash(sib, h, h);
		if (put(cookie, level + 1, i >> 1, h))
			goto err0;
	}
	return (0);

err0:
	return (-1);
}

/**
 * refx_merkle_root(size, get, cookie, out): The root of the first ${size}
 * leaves (the empty root if ${size} is 0), from at most log2(size) + 1
 * get() calls.  Return 0 or -1.
 */
int
refx_merkle_root(uint64_t size, refx_merkle_get_fn get, void *cookie,
    uint8_t out[REFX_MERKLE_HASH_LEN])
{

	if (size > REFX_MERKLE_MAX_SIZE)
		return (-1);
	if (size == 0) {
		refx_merkle_empty_root(out);
		return (0);
	}
	return (subtree(0, size, get, cookie, out));
}

/**
 * refx_merkle_inclusion_proof(index, size, get, cookie, path, npath):
 * Write the RFC 9162 inclusion proof of leaf ${index} in the tree of
 * ${size} leaves to ${path} (leaf's sibling first) and its length to
 * ${npath}.  Return 0, or -1 (with *npath = 0) if ${index} >= ${size},
 * ${size} > REFX_MERKLE_MAX_SIZE or get() fails.
 */
int
refx_merkle_inclusion_proof(uint64_t index, uint64_t size,
    refx_merkle_get_fn get, void *cookie,
    uint8_t path[REFX_MERKLE_MAX_PROOF][REFX_MERKLE_HASH_LEN], size_t *npath)
{
	uint64_t begin = 0, end = size, k;
	size_t n = 0;

	*npath = 0;
	if (size > REFX_MERKLE_MAX_SIZE || index >= size)
		goto err0;

	/*
	 * PATH(m, D[begin:end]) (RFC 9162 2.1.3.1): descend into the half
	 * that holds the leaf and note the other half's root.
	 */
	while (end - begin > 1) {
		if (n == REFX_MERKLE_MAX_PROOF)
			goto err0;
		k = split(end - begin);
		if (index < begin + k) {
			if (subtree(begin + k, end, get, cookie, path[n]))
				goto err0;
			end = begin + k;
		} else {
			if (subtree(begin, begin + k, get, cookie, path[n]))
				goto err0;
			begin += k;
		}
		n++;
	}

	/* The proof lists the hashes bottom-up. */
	reverse(path, n);
	*npath = n;
	return (0);

err0:
	return (-1);
}

/**
 * refx_merkle_consistency_proof(m, n, get, cookie, path, npath): Write the
 * RFC 9162 consistency proof from size ${m} to size ${n} to ${path} and
 * its length to ${npath} (0 if ${m} == ${n}).  Return 0, or -1 (with
 * *npath = 0) if ${m} is 0, ${m} > ${n}, ${n} > REFX_MERKLE_MAX_SIZE or
 * get() fails.
 */
int
refx_merkle_consistency_proof(uint64_t m, uint64_t n, refx_merkle_get_fn get,
    void *cookie, uint8_t path[REFX_MERKLE_MAX_PROOF][REFX_MERKLE_HASH_LEN],
    size_t *npath)
{
	uint64_t begin = 0, end = n, k;
	size_t cnt = 0;
	int whole = 1;

	*npath = 0;
	if (n > REFX_MERKLE_MAX_SIZE || m == 0 || m > n)
		goto err0;

	/*
	 * SUBPROOF(m, D[begin:end], whole) (RFC 9162 2.1.4.1), with ${m}
	 * relative to ${begin}: while the old tree ends inside this
	 * subtree, descend towards its end and note the other half.
	 */
	while (m != end - begin) {
		if (cnt == REFX_MERKLE_MAX_PROOF)
			goto err0;
		k = split(end - begin);
		if (m <= k) {
			if (subtree(begin + k, end, get, cookie, path[cnt]))
				goto err0;
			end = begin + k;
		} else {
			if (subtree(begin, begin + k, get, cookie, path[cnt]))
				goto err0;
			begin += k;
			m -= k;
			whole = 0;
		}
		cnt++;
	}

	/* A subtree of the old tree the verifier does not know yet. */
	if (!whole) {
		if (cnt == REFX_MERKLE_MAX_PROOF)
			goto err0;
		if (subtree(begin, end, get, cookie, path[cnt]))
			goto err0;
		cnt++;
	}

	/* The proof lists the hashes bottom-up. */
	reverse(path, cnt);
	*npath = cnt;
	return (0);

err0:
	return (-1);
}

/*
 * One step of the RFC 9162 verifiers: fold ${p} into ${r} (and into
 * ${fr} if not NULL), updating ${fn} and ${sn}.  Return -1 if the path
 * is longer than the tree is high.
 */
static int
fold(const uint8_t p[HLEN], uint64_t *fn, uint64_t *sn, uint8_t *fr,
    uint8_t r[HLEN])
{

	if (*sn == 0)
		return (-1);
	if ((*fn & 1) || *fn == *sn) {
		/* ${p} is a left sibling. */
		if (fr != NULL)
			refx_merkle_node_hash(p, fr, fr);
		refx_merkle_node_hash(p, r, r);

		/* Skip the levels where the node has no right sibling. */
		if ((*fn & 1) == 0) {
			while (*fn != 0 && (*fn & 1) == 0) {
				*fn >>= 1;
				*sn >>= 1;
			}
		}
	} else {
		/* ${p} is a right sibling (not part of the old tree). */
		refx_merkle_node_hash(r, p, r);
	}
	*fn >>= 1;
	*sn >>= 1;
	return (0);
}

/**
 * refx_merkle_verify_inclusion(index, size, leaf, path, npath, root):
 * Check that ${path} proves the leaf hash ${leaf} at ${index} in the tree
 * of ${size} leaves with root ${root} (RFC 9162 section 2.1.3.2).  Return
 * 0 if it does, -1 otherwise (also if ${index} >= ${size}, ${size} >
 * REFX_MERKLE_MAX_SIZE or ${npath} > REFX_MERKLE_MAX_PROOF).
 */
int
refx_merkle_verify_inclusion(uint64_t index, uint64_t size,
    const uint8_t leaf[REFX_MERKLE_HASH_LEN],
    const uint8_t path[][REFX_MERKLE_HASH_LEN], size_t npath,
    const uint8_t root[REFX_MERKLE_HASH_LEN])
{
	uint8_t r[HLEN];
	uint64_t fn, sn;
	size_t i;

	if (size > REFX_MERKLE_MAX_SIZE || index >= size ||
	    npath > REFX_MERKLE_MAX_PROOF)
		return (-1);
	if (npath > 0 && path == NULL)
		return (-1);

	/* Hash up from the leaf. */
	fn = index;
	sn = size - 1;
	memcpy(r, leaf, HLEN);
	for (i = 0; i < npath; i++) {
		if (fold(path[i], &fn, &sn, NULL, r))
			return (-1);
	}

	/* The path must reach the root exactly, and give the root. */
	if (sn != 0)
		return (-1);
	if (sodium_memcmp(r, root, HLEN) != 0)
		return (-1);
	return (0);
}

/**
 * refx_merkle_verify_consistency(m, n, path, npath, r1, r2): Check that
 * ${path} proves the tree of ${m} leaves with root ${r1} is a prefix of
 * the tree of ${n} leaves with root ${r2} (RFC 9162 section 2.1.4.2).
 * Return 0 if it does, -1 otherwise.  ${m} == 0 always fails; ${m} ==
 * ${n} succeeds only with an empty path and ${r1} == ${r2}.
 */
int
refx_merkle_verify_consistency(uint64_t m, uint64_t n,
    const uint8_t path[][REFX_MERKLE_HASH_LEN], size_t npath,
    const uint8_t r1[REFX_MERKLE_HASH_LEN],
    const uint8_t r2[REFX_MERKLE_HASH_LEN])
{
	uint8_t fr[HLEN], sr[HLEN];
	uint64_t fn, sn;
	size_t i;
	int bad;

	/* A proof from the empty tree proves nothing. */
	if (n > REFX_MERKLE_MAX_SIZE || m == 0 || m > n ||
	    npath > REFX_MERKLE_MAX_PROOF)
		return (-1);
	if (m == n) {
		if (npath != 0 || sodium_memcmp(r1, r2, HLEN) != 0)
			return (-1);
		return (0);
	}
	if (npath == 0 || path == NULL)
		return (-1);

	/* If the old tree is a complete subtree, the proof omits its root. */
	i = 0;
	if (ispow2(m)) {
		memcpy(fr, r1, HLEN);
	} else {
		memcpy(fr, path[0], HLEN);
		i = 1;
	}
	memcpy(sr, fr, HLEN);

	/* Skip the levels where that subtree is a right child. */
	fn = m - 1;
	sn = n - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}

	/* Rebuild both roots: ${fr} from the left siblings only. */
	for (; i < npath; i++) {
		if (fold(path[i], &fn, &sn, fr, sr))
			return (-1);
	}
	if (sn != 0)
		return (-1);
	bad = sodium_memcmp(fr, r1, HLEN) != 0;
	bad |= sodium_memcmp(sr, r2, HLEN) != 0;
	return (bad ? -1 : 0);
}

/** refx_merkle_range_init(r): Make ${r} the compact range of no leaves. */
void
refx_merkle_range_init(struct refx_merkle_range *r)
{

	r->mr_size = 0;
	r->mr_n = 0;
}

/* Is ${r} a range the functions here could have made? */
static int
range_valid(const struct refx_merkle_range *r)
{

	return (r->mr_size <= REFX_MERKLE_MAX_SIZE &&
	    r->mr_n == (unsigned)__builtin_popcountll(r->mr_size));
}

/**
 * refx_merkle_range_load(r, size, get, cookie): Make ${r} the compact
 * range of the first ${size} leaves of a stored tree, from popcount(size)
 * get() calls.  Return 0, or -1 (with ${r} empty).
 */
int
refx_merkle_range_load(struct refx_merkle_range *r, uint64_t size,
    refx_merkle_get_fn get, void *cookie)
{
	unsigned level;

	refx_merkle_range_init(r);
	if (size > REFX_MERKLE_MAX_SIZE)
		goto err0;

	/* Bit L of size set: subtree (L, size / 2^L - 1), largest first. */
	for (level = 64; level-- > 0;) {
		if ((size & (UINT64_C(1) << level)) == 0)
			continue;
		if (get(cookie, level, (size >> level) - 1,
		    r->mr_hash[r->mr_n]))
			goto err1;
		r->mr_n++;
	}
	r->mr_size = size;
	return (0);

err1:
	refx_merkle_range_init(r);
err0:
	return (-1);
}

/**
 * refx_merkle_range_append(r, leaf): Fold the next leaf hash into ${r}.
 * Return 0, or -1 if ${r} is full (REFX_MERKLE_MAX_SIZE leaves) or not
 * a valid range (it is left unchanged).
 */
int
refx_merkle_range_append(struct refx_merkle_range *r,
    const uint8_t leaf[REFX_MERKLE_HASH_LEN])
{
	uint8_t h[HLEN];
	uint64_t s;

	if (!range_valid(r) || r->mr_size == REFX_MERKLE_MAX_SIZE)
		return (-1);

	/* Each trailing 1 bit of the size is a subtree the leaf completes. */
	memcpy(h, leaf, HLEN);
	for (s = r->mr_size; s & 1; s >>= 1)
		refx_merkle_node_hash(r->mr_hash[--r->mr_n], h, h);
	memcpy(r->mr_hash[r->mr_n++], h, HLEN);
	r->mr_size++;
	return (0);
}

/**
 * refx_merkle_range_root(r, out): The root of the tree ${r} describes.
 * Return 0, or -1 if ${r} is not a valid range.
 */
int
refx_merkle_range_root(const struct refx_merkle_range *r,
    uint8_t out[REFX_MERKLE_HASH_LEN])
{
	unsigned i;

	if (!range_valid(r))
		return (-1);
	if (r->mr_n == 0) {
		refx_merkle_empty_root(out);
		return (0);
	}

	/* MTH splits at the largest power of two: fold from the right. */
	memcpy(out, r->mr_hash[r->mr_n - 1], HLEN);
	for (i = r->mr_n - 1; i-- > 0;)
		refx_merkle_node_hash(r->mr_hash[i], out, out);
	return (0);
}
