"""The end of a sweep made cheaper without changing what it writes (issue 16: wind-down).

Normalisation parses each cell once: the sweep hands it the records it read as cells
finished, and the rewritten files go into the index as they are written.  What lands
on disk and in the index is what the slow path wrote: the same bytes, the same rows.
"""

import json

from cab_core import serialization
from cab_core.index import Index
from cab_core.results import CELL_FILE, iter_cell_dirs, read_cell
from cab_core.sweep import normalise, run_sweep
from cab_core.sweep import normalisation as norm

from test_sweep import PY, FakeExecutor, catalog, fake_cell, registry, spec_for  # noqa: F401  (fixtures)

NUMBERS = {"fast": dict(wall_ms=1000.0, tokens=500), "slow": dict(wall_ms=4000.0, tokens=2000),
           "broke": dict(wall_ms=500.0, tokens=100, passed=False)}


def _sweep(tmp_path, registry, catalog):
    spec = spec_for(tmp_path, adapters=["mini"], models=list(NUMBERS), tasks=[PY])
    run_sweep(spec, registry, catalog, executor=FakeExecutor(registry, catalog, lambda o, a: NUMBERS[o.model]))
    return spec


def _unnormalise(folder):
    """The cell as it was before normalisation: its lone-cell composite, no normalisation breakdown."""
    data = json.loads((folder / CELL_FILE).read_text())
    comp = data["scores"]["composite"]
    comp["value"] = comp["breakdown"].pop("normalisation")["cell_composite"]
    (folder / CELL_FILE).write_text(json.dumps(data, indent=2, ensure_ascii=False))


def test_rewritten_cells_are_the_bytes_a_full_serialisation_gives(tmp_path, registry, catalog):
    spec = _sweep(tmp_path, registry, catalog)
    folders = list(iter_cell_dirs(spec.root))
    for folder in folders:
        result = read_cell(folder)
        assert (folder / CELL_FILE).read_text() == serialization.dumps(result)
        _unnormalise(folder)
    normalise(spec.root, registry, catalog)  # the fast path (no cache)
    for folder in folders:
        assert (folder / CELL_FILE).read_text() == serialization.dumps(read_cell(folder))
        assert "normalisation" in read_cell(folder).scores["composite"].breakdown or not read_cell(folder).passed


def test_a_file_with_other_fields_is_serialised_afresh(tmp_path, registry, catalog):
    spec = _sweep(tmp_path, registry, catalog)
    folder = next(f for f in iter_cell_dirs(spec.root) if read_cell(f).passed)
    _unnormalise(folder)
    data = json.loads((folder / CELL_FILE).read_text())
    data["from_an_older_cab"] = 1
    (folder / CELL_FILE).write_text(json.dumps(data))
    normalise(spec.root, registry, catalog)
    written = json.loads((folder / CELL_FILE).read_text())
    assert "from_an_older_cab" not in written and written == serialization.unstructure(read_cell(folder))


def test_cached_records_are_not_parsed_again_and_a_changed_file_is(tmp_path, registry, catalog, monkeypatch):
    spec = _sweep(tmp_path, registry, catalog)
    folders = list(iter_cell_dirs(spec.root))
    cache = {}
    for folder in folders:
        _unnormalise(folder)
        cache[folder] = (norm.stat_key(folder / CELL_FILE), read_cell(folder))
    stale = folders[0]
    cache[stale] = ((0, 0), cache[stale][1])  # as if the file changed since it was read
    parsed, rewritten = [], []
    real = norm._parse
    monkeypatch.setattr(norm, "_parse", lambda path, text: parsed.append(path.parent) or real(path, text))
    normalise(spec.root, registry, catalog, cache=cache, rewritten=lambda f, r: rewritten.append((f, r)))
    assert parsed == [stale]
    assert sorted(f for f, _ in rewritten) == sorted(folders)  # every cell was un-normalised: every one rewritten
    for folder, result in rewritten:
        assert result == read_cell(folder) and cache[folder][:2] == (norm.stat_key(folder / CELL_FILE), result)


def test_the_index_holds_the_normalised_cells_and_is_in_step_with_the_files(tmp_path, registry, catalog):
    spec = _sweep(tmp_path, registry, catalog)
    with Index(spec.results) as index:
        rows = {r["model"]: r for r in index.rows("s")}
        assert index.sync(spec.root)["updated"] == 0  # nothing for sync to read back
    for folder in iter_cell_dirs(spec.root):
        result = read_cell(folder)
        assert rows[result.identity.model]["composite"] == result.scores["composite"].value
    slow = next(read_cell(f) for f in iter_cell_dirs(spec.root) if read_cell(f).identity.model == "slow")
    assert slow.scores["composite"].breakdown["normalisation"]["reference_wall_clock_ms"] == 1000.0


class _Log(FakeExecutor):
    slots = 1

    def __init__(self, *a, log):
        super().__init__(*a)
        self.log = log

    def submit(self, opts):
        self.log.append(("submit", opts.model))
        return super().submit(opts)


class _Observer:
    def __init__(self, log):
        self.log = log

    def started(self, **kw):
        pass

    def cell_finished(self, outcome, **kw):
        self.log.append(("recorded", outcome.opts.model))

    def message(self, text):
        pass

    def finished(self, report):
        pass


def test_the_next_cell_starts_before_the_finished_one_is_recorded(tmp_path, registry, catalog):
    spec = spec_for(tmp_path, adapters=["mini"], models=["a", "b", "c"], tasks=[PY])
    log = []
    report = run_sweep(spec, registry, catalog, observer=_Observer(log),
                       executor=_Log(registry, catalog, lambda o, a: {}, log=log))
    assert log == [("submit", "a"), ("submit", "b"), ("recorded", "a"), ("submit", "c"), ("recorded", "b"),
                   ("recorded", "c")]
    assert report.ran == 3 and report.passing == 3 and not report.missing


def test_the_report_carries_the_rows_the_leaderboard_would_read(tmp_path, registry, catalog):
    from cab_core.cli.summary import _sweep_rows

    spec = spec_for(tmp_path, adapters=["mini"], models=list(NUMBERS), tasks=[PY])
    report = run_sweep(spec, registry, catalog, executor=FakeExecutor(registry, catalog, lambda o, a: NUMBERS[o.model]))
    rows, _ = _sweep_rows(spec.results, spec.sweep_id)
    assert report.rows == rows and len(rows) == len(NUMBERS) and report.unreadable == 0


def test_a_cell_the_index_could_not_take_as_it_ended_is_synced_at_the_close(tmp_path, registry, catalog, monkeypatch):
    spec = spec_for(tmp_path, adapters=["mini"], models=list(NUMBERS), tasks=[PY])
    real, failed = Index.upsert_cell, []

    def flaky(self, result, folder, *, commit=True):
        if commit and not failed:  # a cell as it ends (a sync commits once, at its end)
            failed.append(result.cell_id)
            raise OSError("database is locked")
        return real(self, result, folder, commit=commit)

    monkeypatch.setattr(Index, "upsert_cell", flaky)
    report = run_sweep(spec, registry, catalog, executor=FakeExecutor(registry, catalog, lambda o, a: NUMBERS[o.model]))
    assert failed and failed[0] in {r["cell_id"] for r in report.rows} and len(report.rows) == len(NUMBERS)


def test_a_resumed_sweep_indexes_cells_a_killed_coordinator_published_but_did_not_index(tmp_path, registry, catalog):
    spec = spec_for(tmp_path, adapters=["mini"], models=list(NUMBERS), tasks=[PY])
    run_sweep(spec, registry, catalog, executor=FakeExecutor(registry, catalog, lambda o, a: NUMBERS[o.model]))
    with Index(spec.results) as idx:  # as if the coordinator died between publishing and indexing
        idx.conn.execute("DELETE FROM cells")
        idx.conn.commit()
    report = run_sweep(spec, registry, catalog, executor=FakeExecutor(registry, catalog, lambda o, a: NUMBERS[o.model]))
    assert report.ran == 0 and len(report.rows) == len(NUMBERS)


def test_many_files_replaced_atomically_with_one_flush_keep_their_modes(tmp_path, monkeypatch):
    from cab_core import results

    paths = [tmp_path / f"f{i}.json" for i in range(5)]
    for i, p in enumerate(paths):
        p.write_text("old")
        p.chmod(0o640 if i % 2 else 0o644)
    flushes = []
    real = results._syncfs
    monkeypatch.setattr(results, "_syncfs", lambda path: flushes.append(path) or real(path))
    results.atomic_write_many([(p, f"new {i}") for i, p in enumerate(paths)])
    assert [p.read_text() for p in paths] == [f"new {i}" for i in range(5)] and len(flushes) == 1
    assert [p.stat().st_mode & 0o777 for p in paths] == [0o640 if i % 2 else 0o644 for i in range(5)]
    assert sorted(x.name for x in tmp_path.iterdir()) == sorted(p.name for p in paths)

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(results, "_syncfs", lambda path: False)
    monkeypatch.setattr(results.os, "fsync", full)
    try:
        results.atomic_write_many([(p, "newer") for p in paths])
    except OSError:
        pass
    assert [p.read_text() for p in paths] == [f"new {i}" for i in range(5)]  # none half-replaced, no leftovers
    assert sorted(x.name for x in tmp_path.iterdir()) == sorted(p.name for p in paths)


def test_a_resume_that_runs_nothing_keeps_the_last_normalisation(tmp_path, registry, catalog, monkeypatch):
    spec = _sweep(tmp_path, registry, catalog)
    first = json.loads((spec.root / "sweep.json").read_text())["normalisation"]["references"]
    calls = []
    monkeypatch.setattr("cab_core.sweep.run.normalise", lambda *a, **k: calls.append(1) or {})
    report = run_sweep(spec, registry, catalog, executor=FakeExecutor(registry, catalog, lambda o, a: NUMBERS[o.model]))
    assert report.ran == 0 and calls == [] and report.references == first
    manifest = json.loads((spec.root / "sweep.json").read_text())
    assert manifest["normalisation"]["references"] == first and manifest["runs"][-1]["status"] == "finished"


def test_a_resume_after_an_interrupted_run_normalises_again(tmp_path, registry, catalog, monkeypatch):
    spec = _sweep(tmp_path, registry, catalog)
    manifest = json.loads((spec.root / "sweep.json").read_text())
    manifest["runs"][-1]["status"] = "interrupted"
    (spec.root / "sweep.json").write_text(json.dumps(manifest))
    calls = []
    monkeypatch.setattr("cab_core.sweep.run.normalise", lambda *a, **k: calls.append(1) or {})
    run_sweep(spec, registry, catalog, executor=FakeExecutor(registry, catalog, lambda o, a: NUMBERS[o.model]))
    assert calls == [1]


class _SlowRecordRunner:
    """A runner whose cells take a while, then spend as long writing their record (a slow disk)."""

    def __init__(self, registry, catalog):
        import threading

        self.registry, self.catalog = registry, catalog
        self.lock = threading.Lock()
        self.working = 0  # cells before their recording point
        self.most_working = 0
        self.overlapped = 0  # cells started while another was writing its record
        self.recording = 0

    def run_cell(self, opts, *, on_recording=None, turn=None):
        import time

        turn.take()  # as the runner does before the agent (see cab_core.sweep.turns)
        with self.lock:
            self.working += 1
            self.most_working = max(self.most_working, self.working)
            self.overlapped += bool(self.recording)
        time.sleep(0.05)  # the agent and the tests
        with self.lock:
            self.working -= 1
            self.recording += 1
        turn.done()
        on_recording()
        time.sleep(0.2)  # the record being flushed to disk
        try:
            return fake_cell(self.registry, self.catalog, opts, **NUMBERS[opts.model])
        finally:
            with self.lock:
                self.recording -= 1

    def close(self):
        pass


def test_a_cell_writing_its_record_lends_its_slot_to_the_next_one(tmp_path, registry, catalog):
    spec = spec_for(tmp_path, adapters=["mini"], models=list(NUMBERS), tasks=[PY], trials=2, jobs=1)
    runner = _SlowRecordRunner(registry, catalog)
    report = run_sweep(spec, registry, catalog, runner=runner, poll_s=5)
    assert report.ran == report.total == 2 * len(NUMBERS) and len(report.rows) == report.total
    assert runner.most_working == 1  # --jobs 1: never two agents at once
    assert runner.overlapped >= report.total - 2  # yet each next cell started while the last one wrote its record


def test_only_the_scores_block_is_replaced_and_only_when_it_is_the_records(tmp_path, registry, catalog):
    spec = _sweep(tmp_path, registry, catalog)
    folder = next(f for f in iter_cell_dirs(spec.root) if read_cell(f).passed)
    text = (folder / CELL_FILE).read_text()
    result = read_cell(folder)
    before = serialization.unstructure(result.scores)
    scores = dict(result.scores)
    scores["composite"] = serialization.structure({**before["composite"], "value": 0.25}, type(scores["composite"]))
    new = type(result)(**{**{f: getattr(result, f) for f in norm._CELL_FIELDS}, "scores": scores})
    plain = serialization.unstructure(scores)
    spliced = norm._dumps(text, before, plain, new)
    assert spliced == serialization.dumps(new)  # the bytes a full serialisation gives
    assert spliced[:text.index('"scores"')] == text[:text.index('"scores"')]
    # Which path was taken shows in a mark made outside the block: the splice keeps it, a full serialisation does not.
    marked = text.replace(f'"duration_s": {json.dumps(result.duration_s)}', '"duration_s": 12345.5', 1)
    assert marked != text
    assert '"duration_s": 12345.5' in norm._dumps(marked, before, plain, new)  # spliced
    # A block that is not the record's scores (the text and the record disagree): serialised afresh.
    other = dict(before, composite={**before["composite"], "value": 0.5})
    assert norm._dumps(marked, other, plain, new) == serialization.dumps(new)
    # A layout this cab does not write (no indent), or fields it does not write: serialised afresh.
    assert norm._dumps(json.dumps(json.loads(marked)), before, plain, new) == serialization.dumps(new)
    extra = marked.replace('\n  "scores": ', '\n  "from_an_older_cab": 1,\n  "scores": ', 1)
    assert norm._dumps(extra, before, plain, new) == serialization.dumps(new)


class _LastHeld(FakeExecutor):
    """The last cell submitted ends ``HOLD_S`` later (on a thread): the others are done by then."""

    slots = 1
    HOLD_S = 0.6

    def __init__(self, *a, last):
        super().__init__(*a)
        self.last, self.ended_at = last, None

    def submit(self, opts):
        if opts.model != self.last:
            return super().submit(opts)
        from concurrent.futures import Future
        import threading
        import time

        fut = Future()

        def end():
            time.sleep(self.HOLD_S)
            self.ended_at = time.monotonic()
            result, folder = fake_cell(self.registry, self.catalog, opts, **MORE[opts.model])
            fut.set_result({"status": result.status, "passed": result.passed, "error": None,
                            "duration_s": result.duration_s, "path": str(folder), "worker": "fake"})

        threading.Thread(target=end, daemon=True).start()
        return fut


MORE = {**NUMBERS, "fastest": dict(wall_ms=800.0, tokens=400), "middling": dict(wall_ms=2000.0, tokens=900)}


def _tail_sweep(tmp_path, registry, catalog, monkeypatch, last):
    """A sweep whose last cell is ``last``: the normalisation passes (when, what they wrote) and the index's writes."""
    import time

    from cab_core.sandbox import quiet
    from cab_core.sweep import run as sweep_run

    monkeypatch.setattr(quiet, "MAX_WAIT_S", 0.05)  # no command runs here: let the pass go at once
    passes, upserts = [], []
    real_normalise, real_upsert = sweep_run.normalise, Index.upsert_cell

    def spy(*a, **k):
        mark = len(upserts)
        refs = real_normalise(*a, **k)
        passes.append((time.monotonic(), upserts[mark:]))
        return refs

    monkeypatch.setattr(sweep_run, "normalise", spy)
    monkeypatch.setattr(Index, "upsert_cell", lambda self, result, folder, *, commit=True: (
        upserts.append(result.identity.model) if not commit else None, real_upsert(self, result, folder, commit=commit))[1])
    spec = spec_for(tmp_path, adapters=["mini"], models=["fast", "slow", "broke", last], tasks=[PY])
    executor = _LastHeld(registry, catalog, lambda o, a: MORE[o.model], last=last)
    report = run_sweep(spec, registry, catalog, executor=executor, poll_s=0.05)
    return spec, report, executor, passes


def _as_normalised_from_scratch(spec, registry, catalog):
    """Every cell's bytes, then the same cells un-normalised and normalised again in one pass: both."""
    folders = list(iter_cell_dirs(spec.root))
    now = {f: (f / CELL_FILE).read_text() for f in folders}
    for folder in folders:
        if read_cell(folder).passed:
            _unnormalise(folder)
    normalise(spec.root, registry, catalog)
    return now, {f: (f / CELL_FILE).read_text() for f in folders}


def test_the_sweep_is_normalised_beside_its_last_cell_and_the_close_writes_what_that_cell_changes(
        tmp_path, registry, catalog, monkeypatch):
    spec, report, executor, passes = _tail_sweep(tmp_path, registry, catalog, monkeypatch, last="middling")
    assert len(passes) == 2 and report.ran == 4 and not report.missing
    (beside, first), (close, second) = passes
    assert beside < executor.ended_at < close  # the first pass ran while the last cell was running
    assert sorted(first) == ["broke", "fast", "slow"]  # every cell done by then (each had its lone-cell composite)
    assert second == ["middling"]  # the last cell sets no new reference: only its own record is rewritten
    now, scratch = _as_normalised_from_scratch(spec, registry, catalog)
    assert now == scratch  # what a single pass over the finished sweep writes, byte for byte
    report_rows = {r["model"]: r["composite"] for r in report.rows}  # the index is in step with the files
    assert report_rows == {read_cell(f).identity.model: read_cell(f).composite for f in now}


def test_a_last_cell_that_sets_a_new_reference_has_its_whole_task_rewritten_at_the_close(
        tmp_path, registry, catalog, monkeypatch):
    spec, report, executor, passes = _tail_sweep(tmp_path, registry, catalog, monkeypatch, last="fastest")
    (_, first), (_, second) = passes
    assert sorted(first) == ["broke", "fast", "slow"] and sorted(second) == ["broke", "fast", "fastest", "slow"]
    now, scratch = _as_normalised_from_scratch(spec, registry, catalog)
    assert now == scratch
    fastest = next(read_cell(f) for f in now if read_cell(f).identity.model == "fastest")
    assert fastest.scores["composite"].breakdown["normalisation"]["reference_wall_clock_ms"] == 800.0


def test_an_interrupted_sweep_is_not_normalised_beside_its_last_cell(tmp_path, registry, catalog, monkeypatch):
    from cab_core.sweep import run as sweep_run

    state = sweep_run._Run(spec=None, cells=[], attempts={})
    calls = []
    tail = sweep_run._Tail(lambda: calls.append(1))
    state.inflight, state.complete = {"h": None}, 1
    state.stopping = True
    assert tail.poll(state, 0.5) == 0.5
    tail.run_if_due(state)
    state.stopping = False
    state.todo.append("another cell")  # cells still to start: not the tail yet
    assert tail.poll(state, 0.5) == 0.5 and calls == []


def test_a_record_normalised_against_the_same_references_is_not_normalised_again(tmp_path, registry, catalog,
                                                                                  monkeypatch):
    spec = _sweep(tmp_path, registry, catalog)
    folders = list(iter_cell_dirs(spec.root))
    for folder in folders:
        _unnormalise(folder)
    cache, computed = {}, []
    real = norm.renormalised_scores
    monkeypatch.setattr(norm, "renormalised_scores", lambda result, *a: computed.append(result.identity.model)
                        or real(result, *a))
    normalise(spec.root, registry, catalog, cache=cache)
    first = sorted(computed)
    assert first == sorted(NUMBERS)  # every scored cell, once
    computed.clear()
    normalise(spec.root, registry, catalog, cache=cache)
    assert computed == []  # the same references, the same files: nothing to compute
    folder = folders[0]
    _unnormalise(folder)  # a file changed behind the cache's back: read, computed and written again
    normalise(spec.root, registry, catalog, cache=cache)
    assert computed == [read_cell(folder).identity.model] and "normalisation" in read_cell(folder).scores["composite"].breakdown
