/*
 * webroot: the dashboard's files, served from the web root (--web-root).
 *
 * A path is taken only as api_static_path allows it (segments of
 * [A-Za-z0-9._-], none empty or starting with '.'), then opened below the
 * web root's directory fd following no symbolic link on the way (openat2
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS). Kernels without openat2 (before
 * Linux 5.6) get O_NOFOLLOW, which covers only the last segment: a link to
 * a directory inside the root is followed there, so the root must be
 * trusted. Only a regular file is served. Its ETag is size, mtime and nanoseconds; the page is
 * revalidated every time and carries the security headers of a page.
 *
 * The caller (admin.c) owns the directory fd.
 */
#ifndef HARMONY_WEBROOT_H
#define HARMONY_WEBROOT_H

#include <microhttpd.h>

/* The web root's directory fd, or -1 (logged: not served); NULL root: -1. */
int		 webroot_open(const char *root);
/*
 * The response to GET (or HEAD) url, with its status in *status; or NULL
 * with *status an error status (404) and *reason its text, or with
 * *status 0 if out of memory. web_fd -1: the dashboard is not installed.
 */
struct MHD_Response *webroot_response(int web_fd, struct MHD_Connection *,
		    const char *url, unsigned *status, const char **reason);

#endif
