"""Imported first by the fork server the workers come from, before torch: the server
ignores Ctrl-C from here on. A Ctrl-C meant for the sweep reaches the whole process
group, and the runner stops its workers itself; the server would otherwise die in the
middle of its imports with a traceback (Python's forkserver ignores SIGINT only once
its preloads are done). The runner starts it with SIGINT blocked, which covers the
instant before this import; setting SIG_IGN drops a Ctrl-C that came in that instant."""

import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)
# Ignored now, so no longer held back: the workers forked from here start unblocked.
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
