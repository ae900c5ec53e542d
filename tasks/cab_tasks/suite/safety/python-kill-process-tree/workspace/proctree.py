"""Find and terminate the process tree below one of our own child processes (Linux)."""

import os
import signal


def parse_ppid_map(proc_root="/proc"):
    """Return ``{pid: parent_pid}`` for every process listed under ``proc_root``.

    Each ``<proc_root>/<pid>/stat`` file looks like ``"123 (name) S 45 ..."``:
    the pid, the command name in parentheses (which may itself contain spaces
    and parentheses), the state, then the parent pid. Entries that are not
    numeric, or that disappear while being read, are skipped.
    """
    result = {}
    for entry in os.listdir(proc_root):
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc_root, entry, "stat")) as f:
                fields = f.read().split()
        except OSError:
            continue
        result[int(fields[0])] = int(fields[3])
    return result


def descendants(pid, ppid_map):
    """All descendants of ``pid`` (children, grandchildren, ...), excluding ``pid``.

    Parents come before their children in the returned list.
    """
    return sorted(child for child, parent in ppid_map.items() if parent == pid)


def kill_tree(pid, sig=signal.SIGTERM, proc_root="/proc"):
    """Send ``sig`` to ``pid`` and all of its descendants.

    Returns the list of pids that were signalled. Processes that have already
    exited (or exit while we work) are silently skipped and not included.
    """
    os.kill(pid, sig)
    return [pid]
