"""The sandbox session interface: a Protocol both built-in sessions meet, and no swallowed keywords."""

from __future__ import annotations

import inspect

import pytest

from cab_core.sandbox import SandboxSession
from cab_core.sandbox.docker import DockerSession
from cab_core.sandbox.local import LocalSession

#: What the runner opens every sandbox with (cab_core/runner.py, ``call_plugin(sandbox, "open", ...)``).
OPENED_WITH = {"hide", "mounts", "proxy_socket", "proxy_port", "image", "workdir", "home", "limits"}


@pytest.mark.parametrize("session", [LocalSession, DockerSession])
def test_every_keyword_the_runner_passes_is_named_and_none_is_swallowed(session):
    params = inspect.signature(session.__init__).parameters
    assert OPENED_WITH <= set(params), OPENED_WITH - set(params)
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def test_a_misspelt_option_is_an_error():
    with pytest.raises(TypeError, match="limts"):
        LocalSession(isolate=False, limts=None)


def test_the_local_session_is_a_sandbox_session():
    session = LocalSession(isolate=False)
    try:
        assert isinstance(session, SandboxSession)
    finally:
        session.close()


@pytest.mark.parametrize("session", [LocalSession, DockerSession])
def test_run_has_the_protocols_keywords(session):
    wanted = set(inspect.signature(SandboxSession.run).parameters)
    assert set(inspect.signature(session.run).parameters) == wanted
