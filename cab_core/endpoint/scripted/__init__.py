"""The scripted model server, so cab runs real agents on real tasks offline, in every protocol.

* :mod:`.planning` — what a behaviour (oracle, noop, refuse, vandal, loop) answers, from the
  task's :class:`ScriptContext`, to a request seen as Chat Completions messages and tools;
* :mod:`.aider` — aider's text edit formats, for agents without tools;
* :mod:`.render` — one dialect per wire protocol writing the planned reply;
* :mod:`.server` — :class:`ScriptedModelServer`, the routes, the faults.

``cab_core.modelserver`` re-exports all of this (the name it has always had).
"""

from __future__ import annotations

from .planning import (
    BEHAVIOURS, FAULTS, MODEL_PREFIX, REFUSAL, VANDAL_FILE, Reply, ScriptContext, behaviour_of, codex_patch, edits_for,
    find_patch_tool, find_write_tool, loop_reply, plan_reply, trivial_test, usage_for, working_directory,
)
from .server import ScriptedModelServer

__all__ = [
    "BEHAVIOURS", "FAULTS", "MODEL_PREFIX", "REFUSAL", "VANDAL_FILE", "Reply", "ScriptContext", "ScriptedModelServer",
    "behaviour_of", "codex_patch", "edits_for", "find_patch_tool", "find_write_tool", "loop_reply", "plan_reply", "trivial_test",
    "usage_for", "working_directory",
]
