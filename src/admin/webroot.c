/*
 * webroot: see webroot.h.
 */
#include "autoconfig.h"

#include <sys/stat.h>
#include <sys/syscall.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#define HAVE_OPENAT2_H 1
#endif
#endif

#include "admin/api.h"
#include "admin/webroot.h"
#include "common/log.h"

static char empty_body[1];

int
webroot_open(const char *root)
{
	int fd;

	if (root == NULL)
		return -1;
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		log_warn("--web-root %s: the dashboard is not served", root);
	else if (faccessat(fd, "index.html", R_OK, 0) == -1)
		log_warnx("--web-root %s has no index.html: is the dashboard"
		    " installed?", root);
	return fd;
}

/* Opens rel below the web root, following no symbolic link on the way. */
static int
open_beneath(int dirfd, const char *rel)
{
	int fd;

#if defined(HAVE_OPENAT2_H) && defined(SYS_openat2)
	struct open_how how;

	memset(&how, 0, sizeof(how));
	how.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
	fd = (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
	if (fd >= 0 || errno != ENOSYS)
		return fd;
#endif
	/* Before openat2: only the last segment is not followed (webroot.h). */
	fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	return fd;
}

static void
add_header(struct MHD_Response *r, const char *name, const char *value)
{
	/* Fails only for bad header text or no memory; nothing to undo. */
	(void)MHD_add_response_header(r, name, value);
}

struct MHD_Response *
webroot_response(int web_fd, struct MHD_Connection *c, const char *url,
    unsigned *status, const char **reason)
{
	struct MHD_Response *r;
	struct stat st;
	const char *inm, *type;
	char rel[512], etag[80];
	bool html;
	int fd;

	*status = MHD_HTTP_NOT_FOUND;
	*reason = "not found";
	if (web_fd == -1) {
		*reason = "the dashboard is not installed (see --web-root)";
		return NULL;
	}
	if (api_static_path(url, rel, sizeof(rel)) == -1 ||
	    (fd = open_beneath(web_fd, rel)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return NULL;
	}
	*status = MHD_HTTP_OK;
	snprintf(etag, sizeof(etag), "\"%llx-%llx-%lx\"", (unsigned long long)st.st_size,
	    (unsigned long long)st.st_mtim.tv_sec, (unsigned long)st.st_mtim.tv_nsec);
	inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
	if (inm != NULL && strcmp(inm, etag) == 0) {
		close(fd);
		*status = MHD_HTTP_NOT_MODIFIED;
		r = MHD_create_response_from_buffer(0, empty_body, MHD_RESPMEM_PERSISTENT);
	} else if ((r = MHD_create_response_from_fd64((uint64_t)st.st_size, fd)) == NULL)
		close(fd);		/* on success MHD owns fd */
	if (r == NULL) {
		*status = 0;
		return NULL;
	}
	type = api_mime_type(rel);
	html = strncmp(type, "text/html", 9) == 0;
	add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	add_header(r, MHD_HTTP_HEADER_ETAG, etag);
	/* The page is revalidated every time; assets may be reused briefly. */
	add_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, html ? "no-cache" : "max-age=60");
	add_header(r, "X-Content-Type-Options", "nosniff");
	if (html) {
		add_header(r, "Content-Security-Policy", "default-src 'self'; "
		    "img-src 'self' data:; style-src 'self'; script-src 'self'; "
		    "connect-src 'self'; base-uri 'none'; form-action 'none'; "
		    "frame-ancestors 'none'");
		add_header(r, "X-Frame-Options", "DENY");
		add_header(r, "Referrer-Policy", "no-referrer");
	}
	return r;
}
