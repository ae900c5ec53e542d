"""Every recorded artefact has a size cap and says visibly where it was cut; secrets across a cut stay masked."""

import json

from cab_core.results import CellWriter, cap_lines, cap_text
from cab_core.secrets import MASK, Redactor

SECRET = "my-known-secret-value-0123456789"


def test_a_text_over_its_cap_keeps_head_and_tail_and_says_so():
    text = "h" * 1000 + "t" * 1000
    out = cap_text(text, 400)
    assert out.startswith("h" * 300) and out.endswith("t" * 100)
    assert "[cab: truncated: 1,600 of 2,000 characters left out here]" in out
    assert cap_text("short", 400) == "short"


def test_a_secret_lying_across_the_cut_is_masked_whole():
    redact = Redactor([SECRET], include_environment=False)
    for offset in range(-len(SECRET), 2):
        text = "a" * (750 + offset) + SECRET + "b" * 2000
        out = cap_text(text, 1000, redact)
        for size in range(8, len(SECRET) + 1):
            assert SECRET[:size] not in out and SECRET[-size:] not in out, offset


def test_records_over_the_cap_end_with_a_marker_line():
    lines = [json.dumps({"i": i, "pad": "x" * 50}) for i in range(100)]
    out = cap_lines(lines, 1000)
    assert len(out) < 100 and json.loads(out[-1])["truncated"] is True
    assert "records left out" in json.loads(out[-1])["marker"]


def test_the_cell_writer_caps_texts_records_and_the_recording(tmp_path):
    writer = CellWriter(tmp_path, "cell", Redactor([SECRET], include_environment=False))
    writer.write_text("diff.patch", ("+" + "x" * 99 + "\n") * 2000 + SECRET, cap=10_000)
    patch = writer.path("diff.patch").read_text()
    assert len(patch) < 10_200 and "[cab: truncated:" in patch and SECRET not in patch
    writer.write_jsonl("spans.jsonl", [{"n": i} for i in range(1000)], cap=500)
    assert "truncated" in writer.path("spans.jsonl").read_text().splitlines()[-1]
    cast = ['{"version": 2}'] + [json.dumps([i / 10, "o", "y" * 100 + SECRET]) for i in range(200)]
    writer.path("terminal.cast").write_text("\n".join(cast) + "\n")
    writer.redact_file("terminal.cast", cap=5_000)
    lines = writer.path("terminal.cast").read_text().splitlines()
    assert all(json.loads(line) for line in lines)  # still a valid recording
    assert "[cab: truncated:" in json.loads(lines[-1])[2] and SECRET not in "".join(lines) and MASK in lines[1]
    writer.discard()
