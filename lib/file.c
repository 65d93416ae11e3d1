#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "refx/buf.h"
#include "refx/file.h"

/**
 * refx_file_read(path, cap, data, len): Read the whole regular file
 * ${path} into a NUL-terminated allocation returned in ${data} (caller
 * frees; wipe it first if it holds a secret) with its length in ${len}.
 * Return 0, or -1 with errno set (EFBIG if larger than ${cap}).
 */
int
refx_file_read(const char *path, size_t cap, uint8_t **data, size_t *len)
{
	struct refx_buf b;
	struct stat sb;
	uint8_t chunk[4096];
	ssize_t n;
	int fd, saved;

	refx_buf_init(&b, cap);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
		goto err0;
	if (fstat(fd, &sb) == -1)
		goto err1;
	if (!S_ISREG(sb.st_mode)) {
		errno = EINVAL;
		goto err1;
	}
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto err1;
		if (n == 0)
			break;
		if (refx_buf_add(&b, chunk, (size_t)n))
			goto err1;
	}
	close(fd);
	explicit_bzero(chunk, sizeof(chunk));
	if ((*data = refx_buf_take(&b, len)) == NULL)
		goto err0;
	return (0);

err1:
	saved = errno;
	close(fd);
	errno = saved;
err0:
	saved = errno;
	explicit_bzero(chunk, sizeof(chunk));
	refx_buf_free(&b);
	errno = saved;
	return (-1);
}

/* Write all of ${data} to ${fd}. */
static int
write_all(int fd, const uint8_t *data, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, data, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return (-1);
		data += n;
		len -= (size_t)n;
	}
	return (0);
}

/* fsync the directory holding ${path}, so a rename is durable. */
static int
sync_parent(const char *path)
{
	char tmp[PATH_MAX];
	int fd, rc;

	if (strlen(path) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	memcpy(tmp, path, strlen(path) + 1);
	if ((fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return (-1);
	rc = fsync(fd);
	close(fd);
	return (rc);
}

/**
 * refx_file_write(path, data, len, mode, exclusive): Write ${data} to
 * ${path} with permissions ${mode} atomically (temporary file, fsync,
 * rename, fsync of the directory).  With ${exclusive}, fail with EEXIST
 * if ${path} exists.  Return 0 or -1 with errno set.
 */
int
refx_file_write(const char *path, const void *data, size_t len, mode_t mode,
    int exclusive)
{
	char tmp[PATH_MAX];
	int fd, saved;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	/* O_EXCL on the temporary: never write through a planted symlink. */
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    mode);
	if (fd == -1)
		return (-1);
	/* The umask may have cleared bits we want, never added any. */
	if (fchmod(fd, mode) == -1)
		goto err1;
	if (write_all(fd, data, len) || fsync(fd) == -1)
		goto err1;
	if (close(fd) == -1) {
		fd = -1;
		goto err1;
	}
	fd = -1;
	if (exclusive) {
		/* link() fails with EEXIST instead of replacing. */
		if (link(tmp, path) == -1)
			goto err1;
		(void)unlink(tmp);
	} else if (rename(tmp, path) == -1)
		goto err1;
	if (sync_parent(path))
		return (-1);
	return (0);

err1:
	saved = errno;
	if (fd != -1)
		close(fd);
	(void)unlink(tmp);
	errno = saved;
	return (-1);
}

/**
 * refx_file_check_private(path): Return 0 if ${path} is a regular file
 * that no group or other user can read or write, -1 otherwise (errno =
 * EPERM for bad permissions).
 */
int
refx_file_check_private(const char *path)
{
	struct stat sb;

	if (stat(path, &sb) == -1)
		return (-1);
	if (!S_ISREG(sb.st_mode)) {
		errno = EINVAL;
		return (-1);
	}
	if (sb.st_mode & (S_IRWXG | S_IRWXO)) {
		errno = EPERM;
		return (-1);
	}
	return (0);
}

/** refx_mkdir_p(path, mode): Create ${path} and its parents.  0 or -1. */
int
refx_mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t i, n = strlen(path);

	if (n == 0 || n >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	memcpy(tmp, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, mode) == -1 && errno != EEXIST)
			return (-1);
		tmp[i] = path[i];
	}
	return (0);
}
