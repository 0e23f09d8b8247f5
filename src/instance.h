/*
 * instance: one harmonyd per set of ports, found out before listening.
 *
 * Every listener is made with SO_REUSEPORT so that a harmonyd started with
 * --takeover can join its ports for a handover. That same option would let
 * a second harmonyd started by mistake share them silently, so before
 * listening each port is probed with a bind that does not ask for
 * SO_REUSEPORT: it fails if any socket listens there. The holder is looked
 * up in /proc (its listening socket's inode, then the process with that
 * fd), so the refusal can name it. Start-up only: these block.
 */
#ifndef HARMONY_INSTANCE_H
#define HARMONY_INSTANCE_H

#include <stddef.h>
#include <sys/types.h>

#include "core/net.h"

/*
 * 0 if nothing listens on a (or its port is 0). -1 if something does:
 * *holder is its pid (0 if unknown) and err says "pid N (comm)" or
 * "another process".
 */
int	instance_probe(const struct net_addr *a, pid_t *holder, char *err,
	    size_t errlen);
/*
 * Asks the harmonyd pid to hand over (SIGUSR2): its final save, then it
 * releases the state file and stops saving. 0 when sent; 1 when pid does
 * not catch SIGUSR2 (an older harmonyd: nothing to hand over); -1 with
 * the reason in err (no such process, or ourselves).
 */
int	instance_handover(pid_t pid, char *err, size_t errlen);

#endif
