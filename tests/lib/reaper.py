#!/usr/bin/python3
"""reaper.py: run a server in its own session and reap everything it leaves.

usage: reaper.py [--pid-file F] [--stop-timeout S] -- COMMAND [ARGS...]

A web server killed by a signal can die before it has reaped its FastCGI
children; in a container whose PID 1 does not reap, those linger as zombies.
This parent avoids that:

  * it becomes the leader of a new session (so the test can find every
    process of the server by session id) and writes its pid, which is that
    session id, to --pid-file;
  * it marks itself a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so
    every orphaned descendant is re-parented to it rather than to PID 1;
  * SIGTERM, SIGINT and SIGHUP are forwarded to COMMAND as SIGTERM; if
    COMMAND has not exited --stop-timeout seconds (default 6) later, it gets
    SIGKILL;
  * once COMMAND has exited, any descendant still alive gets SIGTERM, then
    SIGKILL after 2 s, and every one is reaped before this program exits.

The exit status is COMMAND's (128 + signal number if a signal ended it).
Standard library only.
"""

import ctypes
import errno
import os
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
LEFTOVER_GRACE = 2.0
TICK = 0.05

stop_requested = False


def parse_args(argv):
    pid_file, stop_timeout = None, 6.0
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            return pid_file, stop_timeout, argv[i + 1:]
        if a == "--pid-file" and i + 1 < len(argv):
            pid_file = argv[i + 1]
            i += 2
        elif a == "--stop-timeout" and i + 1 < len(argv):
            stop_timeout = float(argv[i + 1])
            i += 2
        else:
            return pid_file, stop_timeout, argv[i:]
    return pid_file, stop_timeout, []


def new_session():
    """Become a session leader.

    setsid() fails for a process-group leader (a shell with job control
    makes each background job one).  Then fork: the parent stays as a plain
    waiter that forwards signals, so the caller's pid still works.
    """
    try:
        os.setsid()
        return
    except OSError as e:
        if e.errno != errno.EPERM:
            raise
    pid = os.fork()
    if pid == 0:
        os.setsid()
        return

    def forward(signum, frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, forward)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    os._exit(exit_code(status))


def exit_code(status):
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def descendants(root):
    """Pids of every live process below root (by parent links in /proc)."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        ppid = int(fields[1])
        children.setdefault(ppid, []).append(int(name))
    found, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            found.append(c)
            todo.append(c)
    return found


def signal_all(pids, sig):
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


def reap_some():
    """Reap every child that has exited; return [(pid, status)]."""
    done = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return done, False
        except InterruptedError:
            continue
        if pid == 0:
            return done, True
        done.append((pid, status))


def main():
    global stop_requested
    pid_file, stop_timeout, cmd = parse_args(sys.argv[1:])
    if not cmd:
        sys.stderr.write(__doc__)
        return 2

    new_session()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.stderr.write("reaper: prctl(PR_SET_CHILD_SUBREAPER): %s\n" %
                         os.strerror(ctypes.get_errno()))

    if pid_file:
        tmp = pid_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(tmp, pid_file)

    def on_signal(signum, frame):
        global stop_requested
        stop_requested = True
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)

    child = os.fork()
    if child == 0:
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_DFL)
        try:
            os.execvp(cmd[0], cmd)
        except OSError as e:
            sys.stderr.write("reaper: %s: %s\n" % (cmd[0], e.strerror))
            os._exit(127)

    status = None
    forwarded_at = None
    killed = False
    while status is None:
        if stop_requested and forwarded_at is None:
            forwarded_at = time.monotonic()
            signal_all([child], signal.SIGTERM)
        if forwarded_at is not None and not killed and \
                time.monotonic() - forwarded_at > stop_timeout:
            sys.stderr.write("reaper: %s did not stop in %g s, killing it\n"
                             % (cmd[0], stop_timeout))
            signal_all([child], signal.SIGKILL)
            killed = True
        done, _ = reap_some()
        for pid, st in done:
            if pid == child:
                status = st
        if status is None:
            time.sleep(TICK)

    # The command is gone; whatever it left behind is ours to end and reap.
    left = descendants(os.getpid())
    if left:
        signal_all(left, signal.SIGTERM)
        deadline = time.monotonic() + LEFTOVER_GRACE
        while True:
            _, more = reap_some()
            if not more:
                break
            if time.monotonic() > deadline:
                signal_all(descendants(os.getpid()), signal.SIGKILL)
                deadline = float("inf")
            time.sleep(TICK)
    reap_some()
    return exit_code(status)


if __name__ == "__main__":
    sys.exit(main())
