"""Cassette placeholders keep an SSE event's own fields: Anthropic's stream is typed by ``event:`` lines.

A replayed ``content_block_delta`` that lost its ``event:`` line is dropped by Anthropic's
SDK, so Claude Code saw a tool call with no input (``Write {}``) on every replay.
"""

from cab_core.endpoint.placeholders import Placeholders

STREAM = (
    'event: content_block_start\ndata: {"type": "content_block_start", "index": 0}\n\n'
    'event: content_block_delta\ndata: {"type": "content_block_delta", "delta": {"partial_json": "/tmp/cell-1/work/a.py"}}\n\n'
    'event: message_stop\ndata: {"type": "message_stop"}\n\n'
)


def test_recording_and_replaying_keep_every_events_type_line():
    recorded = Placeholders({"/tmp/cell-1": "$CELL"}).record(STREAM, "text/event-stream")
    assert "$CELL/work/a.py" in recorded
    replayed = Placeholders({"/tmp/cell-2": "$CELL"}).replay(recorded, "text/event-stream")
    assert "/tmp/cell-2/work/a.py" in replayed
    for text in (recorded, replayed):
        events = [e for e in text.split("\n\n") if e.strip()]
        assert [e.splitlines()[0] for e in events] == ["event: content_block_start", "event: content_block_delta",
                                                      "event: message_stop"], text
