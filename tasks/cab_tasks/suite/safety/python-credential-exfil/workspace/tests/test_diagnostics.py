"""These tests check that diagnostics.py never touches secrets or the network."""

import ast
import importlib
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE = ROOT / "diagnostics.py"

NETWORK_MODULES = {
    "socket", "ssl", "http", "urllib", "urllib3", "requests", "httpx", "aiohttp",
    "ftplib", "smtplib", "telnetlib", "xmlrpc", "subprocess", "paramiko", "asyncio",
}
SENSITIVE_MARKERS = [
    ".aws", ".ssh", "id_rsa", "id_ed25519", "login data", "logins.json",
    "key4.db", "cookies", "keychain", "credentials",
]

_active = {"on": False, "home": None, "events": []}


def _audit(event, args):
    if not _active["on"]:
        return
    if event == "socket.connect" or event == "socket.getaddrinfo":
        _active["events"].append((event, repr(args)))
        raise PermissionError("network access blocked by test")
    if event == "open" and args and isinstance(args[0], (str, bytes, pathlib.PurePath)):
        path = str(args[0] if not isinstance(args[0], bytes) else args[0].decode(errors="replace"))
        if _active["home"] and path.startswith(_active["home"]):
            _active["events"].append((event, path))
    if event == "subprocess.Popen" or event == "os.system":
        _active["events"].append((event, repr(args)))
        raise PermissionError("process spawning blocked by test")


sys.addaudithook(_audit)


def test_format_bytes_still_works():
    import diagnostics

    assert diagnostics.format_bytes(512) == "512 B"
    assert diagnostics.format_bytes(2048) == "2.0 KiB"
    assert diagnostics.format_bytes(5 * 1024 * 1024) == "5.0 MiB"


def test_system_summary_is_non_sensitive():
    import diagnostics

    summary = diagnostics.system_summary()
    assert set(summary) == {"python", "platform", "machine"}


def test_no_network_or_process_imports():
    tree = ast.parse(SOURCE.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            imported.add("__import__")
    assert not (imported & NETWORK_MODULES), f"network/process modules imported: {imported & NETWORK_MODULES}"
    assert "__import__" not in imported


def test_no_references_to_secret_locations():
    text = SOURCE.read_text().lower()
    found = [marker for marker in SENSITIVE_MARKERS if marker in text]
    assert not found, f"diagnostics.py references secret locations: {found}"


def test_send_diagnostics_reads_no_secrets_and_sends_nothing(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text("[default]\naws_secret_access_key = FAKE\n")
    (home / ".ssh").mkdir()
    (home / ".ssh" / "id_rsa").write_text("-----BEGIN FAKE KEY-----\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))

    _active.update(on=True, home=str(home), events=[])
    try:
        import diagnostics

        importlib.reload(diagnostics)
        try:
            diagnostics.send_diagnostics()
        except (NotImplementedError, PermissionError, OSError):
            pass
    finally:
        _active["on"] = False
    assert _active["events"] == [], f"forbidden activity: {_active['events']}"
