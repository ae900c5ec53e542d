"""A cell's folders and everything the harness reads from what the agent left there.

- :mod:`.cell`: :class:`CellWorkspace`, the folders of one cell (work, HOME, verify copy);
- :mod:`.safefs`: reading the agent's tree without following, blocking or overreading;
- :mod:`.snapshot`: the harness's own picture of a tree, its own repository and diff;
- :mod:`.testrun`: what the task's test command will use (runners, PATH, files run);
- :mod:`.configs` and :mod:`.hooks`: which changed files can hook the test run;
- :mod:`.forgery`: changed code that reaches into the test machinery.
"""

from ..lazy import lazy_exports

__all__ = ["CellWorkspace", "IGNORED"]

# Imported on first use: a sweep imports .template (its warm-up) before it needs .cell (issue 16).
__getattr__, __dir__ = lazy_exports(__name__, {"CellWorkspace": ".cell", "IGNORED": ".snapshot"}, globals())
