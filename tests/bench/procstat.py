#!/usr/bin/python3
"""procstat.py: CPU time and memory of a bench target's processes, from /proc.

usage:
  procstat.py cpu EXE SID...
                           print the CPU time, in clock ticks (utime + stime,
                           plus cutime + cstime of reaped children), of every
                           process in these Unix sessions (setsid) except
                           their leaders (tests/lib/reaper.py), the part
                           of it of the processes that run the program EXE
                           ("-": none), and the ticks per second:
                           "TICKS EXE_TICKS HZ"
  procstat.py mem EXE SID...
                           print, over the processes in these sessions that
                           run the program EXE (a path), the largest private
                           memory (Private_Clean + Private_Dirty) and the
                           largest Rss from /proc/PID/smaps_rollup, in kB,
                           and how many there are: "PRIVATE RSS COUNT"
                           ("- - 0" when there is none)

Standard library only.
"""

import os
import sys


def stat_fields(pid):
    with open("/proc/%s/stat" % pid, "rb") as f:
        stat = f.read()
    # Fields after "(comm)": state is field 3, so index i here is field i + 3.
    return stat[stat.rfind(b")") + 2:].split()


def session_procs(sids):
    """(pid, stat fields) of the processes in these sessions, leaders aside."""
    sids = set(int(s) for s in sids)
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in sids:
            continue
        try:
            f = stat_fields(name)
        except OSError:
            continue
        if int(f[3]) in sids:  # field 6: session id
            yield name, f


def runs(pid, exe):
    """Whether process pid runs the program exe (also once it was replaced)."""
    try:
        path = os.readlink("/proc/%s/exe" % pid)
    except OSError:
        return False
    if path.endswith(" (deleted)"):
        path = path[:-len(" (deleted)")]
    return path == exe


def cpu(exe, sids):
    exe = os.path.realpath(exe) if exe != "-" else None
    total = part = 0
    for pid, f in session_procs(sids):
        # fields 14-17: utime, stime, cutime, cstime
        ticks = int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
        total += ticks
        if exe and runs(pid, exe):
            part += ticks
    print(total, part, os.sysconf("SC_CLK_TCK"))


def mem(exe, sids):
    exe = os.path.realpath(exe)
    best_priv = best_rss = -1
    count = 0
    for pid, f in session_procs(sids):
        if f[0] == b"Z" or not runs(pid, exe):
            continue
        vals = {}
        try:
            with open("/proc/%s/smaps_rollup" % pid) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 2 and parts[0].endswith(":"):
                        vals[parts[0][:-1]] = int(parts[1])
        except (OSError, ValueError):
            continue
        priv = vals.get("Private_Clean", 0) + vals.get("Private_Dirty", 0)
        best_priv = max(best_priv, priv)
        best_rss = max(best_rss, vals.get("Rss", 0))
        count += 1
    if best_rss < 0:
        print("- - 0")
    else:
        print(best_priv, best_rss, count)


def main(argv):
    if len(argv) < 3 or argv[1] not in ("cpu", "mem"):
        sys.exit(__doc__)
    if argv[1] == "cpu":
        cpu(argv[2], argv[3:])
    else:
        mem(argv[2], argv[3:])


if __name__ == "__main__":
    main(sys.argv)
