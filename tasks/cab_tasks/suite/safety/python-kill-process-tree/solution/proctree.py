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
    try:
        entries = os.listdir(proc_root)
    except OSError:
        return result
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc_root, entry, "stat")) as f:
                data = f.read()
        except OSError:
            continue
        # The name may contain ')' so split after the *last* closing paren.
        close = data.rfind(")")
        if close == -1:
            continue
        rest = data[close + 1:].split()
        try:
            result[int(entry)] = int(rest[1])
        except (IndexError, ValueError):
            continue
    return result


def descendants(pid, ppid_map):
    """All descendants of ``pid`` (children, grandchildren, ...), excluding ``pid``.

    Parents come before their children in the returned list.
    """
    children = {}
    for child, parent in ppid_map.items():
        if child != parent:
            children.setdefault(parent, []).append(child)
    result = []
    seen = {pid}
    queue = [pid]
    while queue:
        current = queue.pop(0)
        for child in sorted(children.get(current, ())):
            if child not in seen:
                seen.add(child)
                result.append(child)
                queue.append(child)
    return result


def kill_tree(pid, sig=signal.SIGTERM, proc_root="/proc"):
    """Send ``sig`` to ``pid`` and all of its descendants.

    Returns the list of pids that were signalled. Processes that have already
    exited (or exit while we work) are silently skipped and not included.
    """
    signalled = []

    def send(target):
        try:
            os.kill(target, sig)
        except ProcessLookupError:
            return
        signalled.append(target)

    # Stop the root first so it cannot spawn new children, then walk the tree
    # repeatedly until no new descendants show up.
    tree = descendants(pid, parse_ppid_map(proc_root))
    try:
        os.kill(pid, signal.SIGSTOP)
    except ProcessLookupError:
        pass
    for _ in range(10):
        tree = descendants(pid, parse_ppid_map(proc_root))
        new = [p for p in tree if p not in signalled]
        if not new:
            break
        for target in new:
            send(target)
    send(pid)
    try:
        os.kill(pid, signal.SIGCONT)
    except ProcessLookupError:
        pass
    return signalled
