#ifndef REFX_MERKLE_H
#define REFX_MERKLE_H

/*
 * RFC 9162 (RFC 6962) Merkle trees over SHA-256 (docs/internals/merkle.md):
 *
 *   leaf hash   SHA-256(0x00 || entry)
 *   node hash   SHA-256(0x01 || left || right)
 *   MTH({})     SHA-256("")
 *   MTH(D[n])   node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of
 *               two < n
 *
 * Pure: no I/O, no allocation.  The tree lives in the caller's store as
 * the hashes of complete subtrees: node (level L, index i) covers leaves
 * [i * 2^L, (i + 1) * 2^L) and is stored once all of them exist.  The
 * functions here reach the store only through the callbacks below and
 * make O(log n) calls each.
 *
 * Sizes are capped at REFX_MERKLE_MAX_SIZE (2^63) leaves, so that every
 * proof fits in REFX_MERKLE_MAX_PROOF hashes and every compact range in
 * struct refx_merkle_range.  All hashes are exactly REFX_MERKLE_HASH_LEN
 * bytes: callers that decode hashes from text must refuse other lengths.
 */
#include <stddef.h>
#include <stdint.h>

#define REFX_MERKLE_HASH_LEN	32
#define REFX_MERKLE_MAX_PROOF	64	/* hashes in any proof */
#define REFX_MERKLE_MAX_SIZE	(UINT64_C(1) << 63)	/* leaves */

/**
 * refx_merkle_get_fn(cookie, level, index, out): Copy the stored hash of
 * the complete subtree (${level}, ${index}) to ${out}.  Return 0, or -1
 * if it cannot be read (the calling function then fails).
 */
typedef int (*refx_merkle_get_fn)(void *, unsigned, uint64_t,
    uint8_t[REFX_MERKLE_HASH_LEN]);

/**
 * refx_merkle_put_fn(cookie, level, index, hash): Store ${hash} as the
 * complete subtree (${level}, ${index}).  Return 0 or -1.
 */
typedef int (*refx_merkle_put_fn)(void *, unsigned, uint64_t,
    const uint8_t[REFX_MERKLE_HASH_LEN]);

/* A compact range: the roots of the complete subtrees of a prefix. */
struct refx_merkle_range {
	uint64_t mr_size;		/* leaves folded in */
	unsigned mr_n;			/* hashes in mr_hash: popcount(size) */
	uint8_t	 mr_hash[REFX_MERKLE_MAX_PROOF][REFX_MERKLE_HASH_LEN];
					/* left to right, largest first */
};

/** refx_merkle_leaf_hash(data, len, out): SHA-256(0x00 || data). */
void refx_merkle_leaf_hash(const uint8_t *, size_t,
    uint8_t[REFX_MERKLE_HASH_LEN]);

/**
 * refx_merkle_node_hash(l, r, out): SHA-256(0x01 || l || r).  ${out} may
 * be ${l} or ${r}.
 */
void refx_merkle_node_hash(const uint8_t[REFX_MERKLE_HASH_LEN],
    const uint8_t[REFX_MERKLE_HASH_LEN], uint8_t[REFX_MERKLE_HASH_LEN]);

/** refx_merkle_empty_root(out): The root of the empty tree, SHA-256(""). */
void refx_merkle_empty_root(uint8_t[REFX_MERKLE_HASH_LEN]);

/**
 * refx_merkle_append(index, leaf, get, put, cookie): Add the leaf hash
 * ${leaf} at ${index} (the current tree size): put() the leaf as (0,
 * ${index}), then each parent it completes, lowest level first (at most
 * log2(n) + 1 calls), reading left siblings with get().  Return 0, or -1
 * if a callback fails (the caller rolls back) or ${index} is
 * REFX_MERKLE_MAX_SIZE or more.
 */
int refx_merkle_append(uint64_t, const uint8_t[REFX_MERKLE_HASH_LEN],
    refx_merkle_get_fn, refx_merkle_put_fn, void *)
    __attribute__((warn_unused_result, nonnull(2, 3, 4)));

/**
 * refx_merkle_root(size, get, cookie, out): The root of the first ${size}
 * leaves (the empty root if ${size} is 0), from at most log2(size) + 1
 * get() calls.  Return 0 or -1.
 */
int refx_merkle_root(uint64_t, refx_merkle_get_fn, void *,
    uint8_t[REFX_MERKLE_HASH_LEN])
    __attribute__((warn_unused_result, nonnull(2, 4)));

/**
 * refx_merkle_inclusion_proof(index, size, get, cookie, path, npath):
 * Write the RFC 9162 inclusion proof of leaf ${index} in the tree of
 * ${size} leaves to ${path} (leaf's sibling first) and its length to
 * ${npath}.  Return 0, or -1 (with *npath = 0) if ${index} >= ${size},
 * ${size} > REFX_MERKLE_MAX_SIZE or get() fails.
 */
int refx_merkle_inclusion_proof(uint64_t, uint64_t, refx_merkle_get_fn,
    void *, uint8_t[REFX_MERKLE_MAX_PROOF][REFX_MERKLE_HASH_LEN], size_t *)
    __attribute__((warn_unused_result, nonnull(3, 5, 6)));

/**
 * refx_merkle_consistency_proof(m, n, get, cookie, path, npath): Write the
 * RFC 9162 consistency proof from size ${m} to size ${n} to ${path} and
 * its length to ${npath} (0 if ${m} == ${n}).  Return 0, or -1 (with
 * *npath = 0) if ${m} is 0, ${m} > ${n}, ${n} > REFX_MERKLE_MAX_SIZE or
 * get() fails.
 */
int refx_merkle_consistency_proof(uint64_t, uint64_t, refx_merkle_get_fn,
    void *, uint8_t[REFX_MERKLE_MAX_PROOF][REFX_MERKLE_HASH_LEN], size_t *)
    __attribute__((warn_unused_result, nonnull(3, 5, 6)));

/**
 * refx_merkle_verify_inclusion(index, size, leaf, path, npath, root):
 * Check that ${path} proves the leaf hash ${leaf} at ${index} in the tree
 * of ${size} leaves with root ${root} (RFC 9162 section 2.1.3.2).  Return
 * 0 if it does, -1 otherwise (also if ${index} >= ${size}, ${size} >
 * REFX_MERKLE_MAX_SIZE or ${npath} > REFX_MERKLE_MAX_PROOF).
 */
int refx_merkle_verify_inclusion(uint64_t, uint64_t,
    const uint8_t[REFX_MERKLE_HASH_LEN], const uint8_t[][REFX_MERKLE_HASH_LEN],
    size_t, const uint8_t[REFX_MERKLE_HASH_LEN])
    __attribute__((warn_unused_result, nonnull(3, 6)));

/**
 * refx_merkle_verify_consistency(m, n, path, npath, r1, r2): Check that
 * ${path} proves the tree of ${m} leaves with root ${r1} is a prefix of
 * the tree of ${n} leaves with root ${r2} (RFC 9162 section 2.1.4.2).
 * Return 0 if it does, -1 otherwise.  ${m} == 0 always fails; ${m} ==
 * ${n} succeeds only with an empty path and ${r1} == ${r2}.
 */
int refx_merkle_verify_consistency(uint64_t, uint64_t,
    const uint8_t[][REFX_MERKLE_HASH_LEN], size_t,
    const uint8_t[REFX_MERKLE_HASH_LEN], const uint8_t[REFX_MERKLE_HASH_LEN])
    __attribute__((warn_unused_result, nonnull(5, 6)));

/** refx_merkle_range_init(r): Make ${r} the compact range of no leaves. */
void refx_merkle_range_init(struct refx_merkle_range *)
    __attribute__((nonnull));

/**
 * refx_merkle_range_load(r, size, get, cookie): Make ${r} the compact
 * range of the first ${size} leaves of a stored tree, from popcount(size)
 * get() calls.  Return 0, or -1 (with ${r} empty).
 */
int refx_merkle_range_load(struct refx_merkle_range *, uint64_t,
    refx_merkle_get_fn, void *)
    __attribute__((warn_unused_result, nonnull(1, 3)));

/**
 * refx_merkle_range_append(r, leaf): Fold the next leaf hash into ${r}.
 * Return 0, or -1 if ${r} is full (REFX_MERKLE_MAX_SIZE leaves) or not
 * a valid range (it is left unchanged).
 */
int refx_merkle_range_append(struct refx_merkle_range *,
    const uint8_t[REFX_MERKLE_HASH_LEN])
    __attribute__((warn_unused_result, nonnull));

/**
 * refx_merkle_range_root(r, out): The root of the tree ${r} describes.
 * Return 0, or -1 if ${r} is not a valid range.
 */
int refx_merkle_range_root(const struct refx_merkle_range *,
    uint8_t[REFX_MERKLE_HASH_LEN])
    __attribute__((warn_unused_result, nonnull));

#endif /* !REFX_MERKLE_H */
