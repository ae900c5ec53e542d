"""A minimal OpenAI tool-calling agent (standard library only); run by the ``mini`` adapter."""

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

TOOLS = [
    {"type": "function", "function": {"name": "read", "description": "Read a file in the project.",
     "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}},
    {"type": "function", "function": {"name": "write", "description": "Write a whole file in the project.",
     "parameters": {"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
                    "required": ["path", "content"]}}},
]


def inside(path: str) -> Path:
    root = Path.cwd().resolve()
    target = (root / path).resolve()
    if target != root and root not in target.parents:
        raise ValueError(f"{path} is outside the project")
    return target


def call_tool(name: str, args: dict) -> str:
    try:
        if name == "read":
            return inside(args["path"]).read_text()
        if name == "write":
            target = inside(args["path"])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(args["content"])
            return f"wrote {args['path']}"
        return f"unknown tool {name}"
    except Exception as exc:  # the model sees the error, as with any agent
        return f"error: {exc}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--max-turns", type=int, default=8)
    parser.add_argument("prompt")
    args = parser.parse_args()
    base = os.environ["OPENAI_BASE_URL"].rstrip("/")
    files = sorted(str(p) for p in Path(".").rglob("*") if p.is_file() and ".git" not in p.parts)
    messages = [
        {"role": "system", "content": f"You are a coding agent. Current working directory: {Path.cwd()}\n"
                                      f"Files: {', '.join(files[:200])}"},
        {"role": "user", "content": args.prompt},
    ]
    for _ in range(args.max_turns):
        body = json.dumps({"model": args.model, "messages": messages, "tools": TOOLS}).encode()
        request = urllib.request.Request(f"{base}/chat/completions", data=body, headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {os.environ.get('OPENAI_API_KEY', '')}"})
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                reply = json.load(response)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            print(f"mini: model call failed: {exc}")
            return 1
        message = reply["choices"][0]["message"]
        messages.append({k: v for k, v in message.items() if v is not None})
        calls = message.get("tool_calls") or []
        if not calls:
            print(f"FINAL: {message.get('content') or ''}")
            return 0
        for call in calls:
            fn = call["function"]
            try:
                arguments = json.loads(fn.get("arguments") or "{}")
            except ValueError:
                arguments = {}
            result = call_tool(fn["name"], arguments)
            print(f"mini: {fn['name']} {arguments.get('path', '')} -> {result[:80]!r}")
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
    print("mini: gave up after max turns")
    return 1


if __name__ == "__main__":
    sys.exit(main())
