/*
 * Unit tests for core/sdnotify.c: with NOTIFY_SOCKET naming a datagram
 * socket of the test's, what each call sends, in what words; the watchdog
 * pings from a loop timer at half WATCHDOG_USEC; a replaced process says
 * neither STOPPING=1 nor its status; nothing at all without NOTIFY_SOCKET,
 * or in a --without-systemd build (its stubs).
 */
#include "autoconfig.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/loop.h"
#include "core/sdnotify.h"

struct fixture {
	char		 dir[32];
	char		 path[64];
	int		 fd;
	struct loop	*loop;
	struct sdnotify	 n;
	int		 calls;		/* of the status callback */
	int		 services;	/* what it says */
};

static void
status_of(void *arg, char *buf, size_t len)
{
	struct fixture *f = arg;

	f->calls++;
	snprintf(buf, len, "%d services", f->services);
}

static void
fixture_open(struct fixture *f, bool with_socket)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(f, 0, sizeof(*f));
	f->services = 1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/check_sdn.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/notify", f->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	f->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(f->fd, 0);
	ck_assert_int_eq(bind(f->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	unsetenv("WATCHDOG_PID");
	unsetenv("SYSTEMD_EXEC_PID");
	if (with_socket)
		ck_assert_int_eq(setenv("NOTIFY_SOCKET", f->path, 1), 0);
	else
		unsetenv("NOTIFY_SOCKET");
	ck_assert_ptr_nonnull(f->loop = loop_new());
}

static void
fixture_close(struct fixture *f)
{
	sdnotify_stop(&f->n);
	ck_assert_uint_eq(loop_ntimers(f->loop), 0);
	loop_free(f->loop);
	close(f->fd);
	unlink(f->path);
	rmdir(f->dir);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
}

/* The next datagram, waiting up to ms; "" if none came. */
static const char *
next(struct fixture *f, int ms)
{
	static char buf[512];
	struct pollfd p = { .fd = f->fd, .events = POLLIN };
	ssize_t r;

	buf[0] = '\0';
	if (poll(&p, 1, ms) == 1 && (r = recv(f->fd, buf, sizeof(buf) - 1, 0)) >= 0)
		buf[r] = '\0';
	return buf;
}

START_TEST(test_messages)
{
	struct fixture f;
	const char *m;

	fixture_open(&f, true);
	sdnotify_init(&f.n, f.loop, 0, status_of, &f);
	ck_assert_int_eq(f.n.enabled, sdnotify_built());
	sdnotify_ready(&f.n);
	sdnotify_reloading(&f.n);
	sdnotify_reloaded(&f.n);
	sdnotify_stopping(&f.n);
	sdnotify_stopping(&f.n);	/* once is all */
	sdnotify_reloaded(&f.n);	/* after STOPPING=1: no READY=1 */
	if (!sdnotify_built()) {
		ck_assert_str_eq(next(&f, 0), "");
		ck_assert_int_eq(f.calls, 0);
		fixture_close(&f);
		return;
	}
	ck_assert_str_eq(next(&f, 1000), "READY=1\nSTATUS=1 services");
	m = next(&f, 1000);
	ck_assert_msg(strncmp(m, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0 &&
	    strspn(m + 27, "0123456789") == strlen(m + 27) && m[27] != '\0', "%s", m);
	ck_assert_str_eq(next(&f, 1000), "READY=1\nSTATUS=1 services");
	ck_assert_str_eq(next(&f, 1000), "STOPPING=1");
	ck_assert_str_eq(next(&f, 0), "");
	/* No watchdog: only the status timer is armed. */
	ck_assert_uint_eq(loop_ntimers(f.loop), 1);
	fixture_close(&f);
}
END_TEST

START_TEST(test_takeover)
{
	struct fixture f;
	char want[64];

	fixture_open(&f, true);
	ck_assert_int_eq(setenv("WATCHDOG_PID", "1", 1), 0);	/* the old one's */
	ck_assert_int_eq(setenv("WATCHDOG_USEC", "2000000", 1), 0);
	sdnotify_init(&f.n, f.loop, 1, status_of, &f);
	if (!sdnotify_built()) {
		ck_assert_int_eq(f.n.enabled, false);
		fixture_close(&f);
		return;
	}
	ck_assert_int_eq(f.n.ping_ms, 1000);
	sdnotify_ready(&f.n);
	snprintf(want, sizeof(want), "READY=1\nMAINPID=%ld\nSTATUS=1 services",
	    (long)getpid());
	ck_assert_str_eq(next(&f, 1000), want);
	ck_assert_str_eq(next(&f, 1000), "WATCHDOG=1");
	sdnotify_reloading(&f.n);
	next(&f, 1000);
	sdnotify_reloaded(&f.n);	/* MAINPID= said once is enough */
	ck_assert_str_eq(next(&f, 1000), "READY=1\nSTATUS=1 services");
	fixture_close(&f);
}
END_TEST

START_TEST(test_watchdog_and_status_timers)
{
	struct fixture f;
	int64_t end;
	int pings = 0, status = 0;
	const char *m;

	fixture_open(&f, true);
	ck_assert_int_eq(setenv("WATCHDOG_USEC", "100000", 1), 0);
	sdnotify_init(&f.n, f.loop, 0, status_of, &f);
	if (!sdnotify_built()) {
		fixture_close(&f);
		return;
	}
	ck_assert_int_eq(f.n.ping_ms, 50);
	sdnotify_ready(&f.n);
	ck_assert_str_eq(next(&f, 1000), "READY=1\nSTATUS=1 services");
	f.services = 2;
	end = loop_clock_monotonic_ms() + SDNOTIFY_STATUS_MS + 1000;
	while (loop_clock_monotonic_ms() < end) {
		ck_assert_int_ne(loop_run_once(f.loop, 20), -1);
		while (*(m = next(&f, 0)) != '\0') {
			if (strcmp(m, "WATCHDOG=1") == 0)
				pings++;
			else if (strcmp(m, "STATUS=2 services") == 0)
				status++;
			else
				ck_abort_msg("unexpected %s", m);
		}
	}
	/* 50 ms pings over ~4 s: loose, for a loaded machine. */
	ck_assert_int_ge(pings, 20);
	ck_assert_int_le(pings, 90);
	/* The status changed once (1 -> 2 services), and is said once. */
	ck_assert_int_eq(status, 1);
	fixture_close(&f);
}
END_TEST

START_TEST(test_replaced)
{
	struct fixture f;

	fixture_open(&f, true);
	sdnotify_init(&f.n, f.loop, 0, status_of, &f);
	sdnotify_ready(&f.n);
	next(&f, sdnotify_built() ? 1000 : 0);
	sdnotify_replaced(&f.n);
	sdnotify_reloading(&f.n);
	sdnotify_reloaded(&f.n);
	sdnotify_stopping(&f.n);
	ck_assert_str_eq(next(&f, 100), "");
	ck_assert_int_eq(loop_timer_armed(&f.n.status), false);
	fixture_close(&f);
}
END_TEST

START_TEST(test_no_socket)
{
	struct fixture f;

	fixture_open(&f, false);
	ck_assert_int_eq(setenv("WATCHDOG_USEC", "100000", 1), 0);
	sdnotify_init(&f.n, f.loop, 0, status_of, &f);
	ck_assert_int_eq(f.n.enabled, false);
	sdnotify_ready(&f.n);
	sdnotify_reloading(&f.n);
	sdnotify_stopping(&f.n);
	ck_assert_uint_eq(loop_ntimers(f.loop), 0);
	ck_assert_int_eq(f.calls, 0);
	ck_assert_str_eq(next(&f, 0), "");
	fixture_close(&f);
}
END_TEST

static Suite *
sdnotify_suite(void)
{
	Suite *s = suite_create("sdnotify");
	TCase *tc = tcase_create("notify");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_messages);
	tcase_add_test(tc, test_takeover);
	tcase_add_test(tc, test_watchdog_and_status_timers);
	tcase_add_test(tc, test_replaced);
	tcase_add_test(tc, test_no_socket);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(sdnotify_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
