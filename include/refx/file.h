#ifndef REFX_FILE_H
#define REFX_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/**
 * refx_file_read(path, cap, data, len): Read the whole regular file
 * ${path} into a NUL-terminated allocation returned in ${data} (caller
 * frees; wipe it first if it holds a secret) with its length in ${len}.
 * Return 0, or -1 with errno set (EFBIG if larger than ${cap}).
 */
int refx_file_read(const char *, size_t, uint8_t **, size_t *)
    __attribute__((warn_unused_result));

/**
 * refx_file_write(path, data, len, mode, exclusive): Write ${data} to
 * ${path} with permissions ${mode} atomically (temporary file, fsync,
 * rename, fsync of the directory).  With ${exclusive}, fail with EEXIST
 * if ${path} exists.  Return 0 or -1 with errno set.
 */
int refx_file_write(const char *, const void *, size_t, mode_t, int)
    __attribute__((warn_unused_result));

/**
 * refx_file_check_private(path): Return 0 if ${path} is a regular file
 * that no group or other user can read or write, -1 otherwise (errno =
 * EPERM for bad permissions).
 */
int refx_file_check_private(const char *);

/** refx_mkdir_p(path, mode): Create ${path} and its parents.  0 or -1. */
int refx_mkdir_p(const char *, mode_t);

#endif /* !REFX_FILE_H */
