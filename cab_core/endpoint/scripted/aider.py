"""aider's edit formats, for the oracle answering an agent that has no tools.

aider shows each file as ``<path>\n<fence>\n<content><fence-close>`` and takes edits
as ``SEARCH/REPLACE`` blocks or whole-file listings, depending on its edit format
(the system prompt says which).  These build such edits from the solution files.
"""

from __future__ import annotations

import posixpath
from typing import Any, Mapping, Optional


def _message_text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str))
    return ""


#: aider's fences, in the order aider picks them (the first not found in the files).
_FENCES = (
    ("```", "```"),
    ("````", "````"),
    ("<source>", "</source>"),
    ("<code>", "</code>"),
    ("<pre>", "</pre>"),
    ("<codeblock>", "</codeblock>"),
    ("<sourcecode>", "</sourcecode>"),
)
#: Fence language tags (never a shell one: aider reads a ```bash block as a command to run).
_LANGUAGES = {
    ".py": "python",
    ".rs": "rust",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".ts": "typescript",
    ".go": "go",
    ".c": "c",
    ".h": "c",
    ".cpp": "cpp",
    ".java": "java",
    ".rb": "ruby",
    ".toml": "toml",
    ".json": "json",
    ".md": "markdown",
}


def _find_file_content(messages: list, path: str) -> Optional[tuple[str, tuple[str, str]]]:
    """The latest content of ``path`` shown in the chat the way aider shows it, and its fence.

    aider adds files as ``<path>\\n<fence>\\n<content><fence-close>\\n`` with a fence
    that does not occur in any file, so the first closing fence ends the content.
    """
    found = None
    needle = path + "\n"
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        text = _message_text(message)
        idx = text.find(needle)
        while idx != -1:
            if idx == 0 or text[idx - 1] == "\n":
                line_start = idx + len(needle)
                line_end = text.find("\n", line_start)
                fence_line = text[line_start:line_end] if line_end != -1 else ""
                fence = _fence_of(fence_line)
                if fence is not None:
                    body_start = line_end + 1
                    close = fence[1]
                    if text.startswith(close, body_start):
                        found = ("", fence)
                    else:
                        end = text.find("\n" + close, body_start - 1)
                        if end != -1:
                            found = (text[body_start : end + 1], fence)
                        else:
                            end = text.find(close, body_start)
                            if end != -1:
                                found = (text[body_start:end], fence)
            idx = text.find(needle, idx + 1)
    return found


def _fence_of(line: str) -> Optional[tuple[str, str]]:
    line = line.strip()
    if line.startswith("````"):
        return _FENCES[1]
    for fence in _FENCES:
        if line.startswith(fence[0]):
            return fence
    return None


def _choose_fence(*contents: str) -> tuple[str, str]:
    for fence in _FENCES:
        if not any(fence[0] in c or fence[1] in c for c in contents):
            return fence
    return _FENCES[0]


def _with_newline(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


def _search_replace_block(path: str, search: str, replace: str, fence: tuple[str, str]) -> str:
    lang = _LANGUAGES.get(posixpath.splitext(path)[1].lower(), "")
    return (
        f"{path}\n{fence[0]}{lang}\n<<<<<<< SEARCH\n{_with_newline(search)}=======\n"
        f"{_with_newline(replace)}>>>>>>> REPLACE\n{fence[1]}\n"
    )


def _listing(path: str, content: str, fence: tuple[str, str]) -> str:
    return f"{path}\n{fence[0]}\n{_with_newline(content)}{fence[1]}\n"


def system_text(messages: list) -> str:
    """The system (and developer) messages' text."""
    return "\n".join(_message_text(m) for m in messages if isinstance(m, Mapping) and m.get("role") in ("system", "developer"))


def done_text(paths) -> str:
    paths = list(paths)
    return f"Done: updated {', '.join(paths)}." if paths else "Done: nothing to change."


def text_edits(files: dict[str, str], test_files: Mapping[str, str], messages: list) -> str:
    """aider-style edits in the format the system prompt asks for (the reply's text)."""
    system = system_text(messages) or "\n".join(_message_text(m) for m in messages if isinstance(m, Mapping))
    diff_format = "SEARCH/REPLACE" in system
    everything = "\n".join(_message_text(m) for m in messages if isinstance(m, Mapping))
    blocks, changed = [], []
    for path, new in files.items():
        shown = _find_file_content(messages, path)
        if shown is not None and shown[0] == new:
            continue  # already applied (a follow-up turn)
        changed.append(path)
        if diff_format:
            if shown is not None:
                blocks.append(_search_replace_block(path, shown[0], new, shown[1]))
                continue
            if path in test_files:  # not in the chat, but we know what is on disk
                current = test_files[path]
                blocks.append(_search_replace_block(path, current, new, _choose_fence(current, new)))
                continue
            if path not in everything:  # a new file: aider creates it from an empty SEARCH
                blocks.append(_search_replace_block(path, "", new, _choose_fence(new)))
                continue
        fence = shown[1] if shown is not None else _choose_fence(new)
        blocks.append(_listing(path, new, fence))
    if not blocks:
        return "Done: the files already have the changes."
    intro = "Here are the changes.\n\n"
    return intro + "\n".join(blocks) + "\n" + done_text(changed)


