/*
 * instance: see instance.h.
 *
 * The /proc lookup reads /proc/net/tcp{,6} for a listening socket on the
 * port (on the same address, or either one a wildcard), then every
 * /proc/PID/fd for "socket:[INODE]". Without permission to look (another
 * user's process) the holder is "another process".
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/net.h"
#include "instance.h"

#define TCP_LISTEN_STATE	0x0A	/* include/net/tcp_states.h */

static bool
all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return false;
	return true;
}

/* Does a /proc/net/tcp{,6} local address (raw words, hex) match a's? */
static bool
addr_matches(const char *hex, size_t nwords, const struct net_addr *a)
{
	uint32_t words[4] = { 0 };
	const void *ours;
	size_t ourlen;

	for (size_t i = 0; i < nwords; i++) {
		char w[9];
		unsigned long v;

		memcpy(w, hex + 8 * i, 8);
		w[8] = '\0';
		v = strtoul(w, NULL, 16);
		words[i] = (uint32_t)v;
	}
	if (a->ss.ss_family == AF_INET) {
		ours = &((const struct sockaddr_in *)(const void *)&a->ss)->sin_addr;
		ourlen = 4;
	} else {
		ours = &((const struct sockaddr_in6 *)(const void *)&a->ss)->sin6_addr;
		ourlen = 16;
	}
	/* A wildcard on either side covers the other. */
	if (all_zero(words, nwords * 4) || all_zero(ours, ourlen))
		return true;
	return nwords * 4 == ourlen && memcmp(words, ours, ourlen) == 0;
}

/* The inode of a socket listening on a's port and address, or 0. */
static unsigned long
listening_inode(const struct net_addr *a)
{
	static const char *const tables[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	uint16_t port = net_addr_port((const struct sockaddr *)&a->ss);
	unsigned long found = 0;
	char line[512];

	for (size_t t = 0; t < 2 && found == 0; t++) {
		FILE *fp = fopen(tables[t], "re");
		size_t nwords = t == 0 ? 1 : 4;

		if (fp == NULL)
			continue;
		while (found == 0 && fgets(line, sizeof(line), fp) != NULL) {
			char local[40], remote[40];
			unsigned lport, state;
			unsigned long inode;
			char *colon;

			/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
			if (sscanf(line, " %*s %39s %39s %x %*s %*s %*s %*s %*s %lu",
			    local, remote, &state, &inode) != 4 ||
			    state != TCP_LISTEN_STATE ||
			    (colon = strchr(local, ':')) == NULL ||
			    (size_t)(colon - local) != 8 * nwords ||
			    sscanf(colon + 1, "%x", &lport) != 1 || lport != port)
				continue;
			if (addr_matches(local, nwords, a))
				found = inode;
		}
		fclose(fp);
	}
	return found;
}

static bool
has_socket_fd(const char *pid, const char *link)
{
	char path[300], target[64];
	struct dirent *de;
	bool has = false;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%s/fd", pid);
	if ((d = opendir(path)) == NULL)
		return false;
	while (!has && (de = readdir(d)) != NULL) {
		char fdpath[600];
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(fdpath, sizeof(fdpath), "%s/%s", path, de->d_name);
		n = readlink(fdpath, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		has = strcmp(target, link) == 0;
	}
	closedir(d);
	return has;
}

static pid_t
inode_holder(unsigned long inode)
{
	char link[48];
	struct dirent *de;
	pid_t pid = 0;
	DIR *d;

	if (inode == 0 || (d = opendir("/proc")) == NULL)
		return 0;
	snprintf(link, sizeof(link), "socket:[%lu]", inode);
	while (pid == 0 && (de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		if (has_socket_fd(de->d_name, link))
			pid = (pid_t)strtol(de->d_name, NULL, 10);
	}
	closedir(d);
	return pid;
}

static void
describe(pid_t pid, char *buf, size_t len)
{
	char path[64], comm[64] = "";
	FILE *fp;

	if (pid == 0) {
		snprintf(buf, len, "another process");
		return;
	}
	snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
	if ((fp = fopen(path, "re")) != NULL) {
		if (fgets(comm, sizeof(comm), fp) == NULL)
			comm[0] = '\0';
		fclose(fp);
	}
	comm[strcspn(comm, "\n")] = '\0';
	/* comm is the holder's to choose: keep it printable. */
	for (char *c = comm; *c != '\0'; c++)
		if (!isprint((unsigned char)*c))
			*c = '?';
	snprintf(buf, len, "pid %ld%s%s%s", (long)pid, comm[0] ? " (" : "", comm,
	    comm[0] ? ")" : "");
}

int
instance_probe(const struct net_addr *a, pid_t *holder, char *err, size_t errlen)
{
	char who[96];
	int fd, one = 1, rc;

	*holder = 0;
	if (net_addr_port((const struct sockaddr *)&a->ss) == 0)
		return 0;
	if ((fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;	/* the real listen will say what is wrong */
	/* SO_REUSEADDR as the real one, but not SO_REUSEPORT: any listener clashes. */
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a->ss.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	rc = bind(fd, (const struct sockaddr *)&a->ss, a->len);
	if (rc == -1 && errno != EADDRINUSE)
		rc = 0;
	close(fd);
	if (rc == 0)
		return 0;
	*holder = inode_holder(listening_inode(a));
	describe(*holder, who, sizeof(who));
	snprintf(err, errlen, "in use by %s", who);
	return -1;
}

/* Does pid catch SIGUSR2? true when /proc cannot tell. */
static bool
catches_usr2(pid_t pid)
{
	char path[64], line[256];
	bool catches = true;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((fp = fopen(path, "re")) == NULL)
		return true;
	while (fgets(line, sizeof(line), fp) != NULL) {
		unsigned long long mask;

		if (sscanf(line, "SigCgt: %llx", &mask) == 1) {
			catches = (mask >> (SIGUSR2 - 1)) & 1;
			break;
		}
	}
	fclose(fp);
	return catches;
}

int
instance_handover(pid_t pid, char *err, size_t errlen)
{
	if (pid == getpid()) {
		snprintf(err, errlen, "that is this process");
		return -1;
	}
	if (kill(pid, 0) == -1 && errno == ESRCH) {
		snprintf(err, errlen, "no process %ld", (long)pid);
		return -1;
	}
	if (!catches_usr2(pid))
		return 1;
	if (kill(pid, SIGUSR2) == -1) {
		snprintf(err, errlen, "cannot signal %ld: %s", (long)pid, strerror(errno));
		return -1;
	}
	return 0;
}
