"""agenthelp: harmony-agent for the integration tests (t_agent*.py,
t_install.py): the program under HARMONY_AGENT, run as a harness.Proc."""

import os

import harness as h

AGENT = h.AGENT


class Agent(h.Proc):
    """harmony-agent with args; its stderr is read like harmonyd's."""

    def __init__(self, *args, label='harmony-agent'):
        if not AGENT or not os.access(AGENT, os.X_OK):
            h.skip('HARMONY_AGENT is not set to an executable (%r): run through '
                   '`make check`' % AGENT)
        super().__init__(label, [AGENT] + [str(a) for a in args])

    def wait_log(self, regex, timeout=10.0, start=0):
        return self.err.wait_for(regex, timeout, start)

    def mark(self):
        """A position in the log, for wait_log(start=...)."""
        with self.err.cond:
            return len(self.err.lines)

    def stop(self):
        super().stop()
        marker = h._sanitizer_report(self.err.text())
        h.check(marker is None, '%s printed a sanitizer report (%s)' % (self.label, marker))


def served_by(hd):
    """The name line of the backend that serves one connection through hd."""
    with h.connect(hd.port, timeout=10) as s:
        return h.recv_line(s, timeout=10)
