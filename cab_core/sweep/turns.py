"""Turns: a sweep's cells prepare while the cell before them runs its tests (issue 16).

``--jobs N`` promises that at most N cells run their *commands* at once: the agent, then
the tests.  What the harness does around them (copy the task, start the model proxy,
build the sandboxes; afterwards score and write the record) is not a command, and on a
trivial cell it is most of the cell's time.  So a cell *ahead* prepares while the
running one's tests run, and starts its agent the moment those tests end:

- :meth:`Turn.admitted` (before the cell starts): a cell starts once fewer than N cells
  are starting or running their agent, i.e. once the cell before it is running its tests
  (:meth:`Turn.testing`) or is over.  Nothing of its own competes with that cell's agent
  or hand-overs, and the local sandbox's slot for it (:mod:`cab_core.sandbox.localpool`)
  is being built by then.
- :meth:`Turn.take` (before the agent's command): at most N cells hold a turn, from
  the agent's start to their tests' end (:meth:`Turn.done`), taken in the order the
  cells were submitted.  The time a cell waits here is not its own: the runner records it
  as a ``queue`` span and leaves it out of the cell's duration and wall-clock axis.

Waits give up (``KeyboardInterrupt``, as :func:`cab_core.sandbox.procs.check_stopping`)
when the harness is stopping or the turns are closed: a cell that never got its turn
keeps no record.  A cell that fails anywhere calls :meth:`Turn.done` (idempotent), so
no failure holds the others back.
"""

from __future__ import annotations

import itertools
import threading
import time

from ..sandbox import quiet

POLL_S = 0.25  # how often a wait looks whether the harness is stopping
#: How long a cell whose commands are over waits for the next cell's agent to start and end
#: before it writes its record (:meth:`Turn.settle`).
SETTLE_MAX_S = 0.5
#: How long a cell about to start waits for the cells writing their record (:meth:`Turn.admitted`).
RECORDING_WAIT_S = 0.2
#: ... and for the harness's background work (:func:`cab_core.sandbox.quiet.idle`).
IDLE_WAIT_S = 0.15


class Turns:
    """The turns of one executor's cells (``slots``: its ``--jobs``)."""

    def __init__(self, slots: int):
        self.slots = max(1, int(slots))
        self._cond = threading.Condition()
        self._tickets = itertools.count()
        self._starting: set = set()  # admitted, not yet running their tests (or over)
        self._holding: set = set()   # holding a turn: agent started, tests not over
        self._testing: set = set()   # holding a turn and running their tests
        self._recording: set = set()  # commands over, writing their record (see Turn.settle)
        self._admit: list = []       # tickets waiting to start, in order
        self._take: list = []        # tickets waiting for a turn, in order
        self._closed = False

    def ticket(self) -> "Turn":
        """A turn for the next cell submitted (its place in line is taken now)."""
        with self._cond:
            number = next(self._tickets)
            self._admit.append(number)
        return Turn(self, number)

    def close(self) -> None:
        """Wake every wait: cells not yet started or without a turn give up."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _wait(self, line: list, number: int, ready) -> None:
        from ..sandbox import procs

        with self._cond:
            while not (line[0] == number and ready()):
                if self._closed or procs.STOPPING.is_set():
                    line.remove(number)
                    self._cond.notify_all()
                    raise KeyboardInterrupt
                self._cond.wait(POLL_S)
            line.pop(0)
            self._cond.notify_all()


class Turn:
    """One cell's place in its executor's :class:`Turns`."""

    def __init__(self, turns: Turns, number: int):
        self._turns, self.number = turns, number
        self._state = "queued"  # queued -> starting -> holding -> testing -> done

    def admitted(self) -> None:
        """Wait until this cell may start: fewer than ``slots`` cells starting or running their agent;
        then, at most :data:`RECORDING_WAIT_S`, for the cells writing their record (one thing at a time
        beside the tests: each is done sooner)."""
        turns = self._turns
        turns._wait(turns._admit, self.number, lambda: len(turns._starting) < turns.slots)
        with turns._cond:
            turns._starting.add(self.number)
            self._state = "starting"
            turns._cond.wait_for(lambda: turns._closed or not turns._recording, RECORDING_WAIT_S)
        quiet.idle(IDLE_WAIT_S)  # ... and for the harness's background work begun at its tests' start

    def take(self) -> float:
        """Wait for a turn to run commands (fewer than ``slots`` held); the seconds waited."""
        turns = self._turns
        t0 = time.perf_counter()
        with turns._cond:
            if self._state != "starting":  # not admitted (run without a line): nothing to wait for
                return 0.0
            turns._take.append(self.number)
        turns._wait(turns._take, self.number, lambda: len(turns._holding) < turns.slots)
        with turns._cond:
            turns._holding.add(self.number)
            self._state = "holding"
        return time.perf_counter() - t0

    def testing(self) -> None:
        """This cell's tests have started: the next cell may start."""
        turns = self._turns
        with turns._cond:
            if self._state == "holding":
                turns._starting.discard(self.number)
                turns._testing.add(self.number)
                self._state = "testing"
                turns._cond.notify_all()

    def settle(self) -> float:
        """After :meth:`done`: wait until no other cell is starting its agent (at most
        :data:`SETTLE_MAX_S`), so this cell's record is written beside the next cell's tests, not
        beside its agent's hand-over; the seconds waited."""
        turns = self._turns
        t0 = time.perf_counter()
        with turns._cond:
            if self._state == "done":  # a cell about to start waits for this record (see admitted)
                turns._recording.add(self.number)
            # a cell waiting for its turn is about to start its agent too (this one's done() just woke it)
            turns._cond.wait_for(lambda: turns._closed or not (turns._take or turns._holding - turns._testing),
                                 SETTLE_MAX_S)
        quiet.idle(IDLE_WAIT_S)  # ... and for the harness's background work begun beside those tests
        return time.perf_counter() - t0

    def recorded(self) -> None:
        """This cell's record is written (only the disk's flush left), or it ends without one."""
        turns = self._turns
        with turns._cond:
            if self.number in turns._recording:
                turns._recording.discard(self.number)
                turns._cond.notify_all()

    def done(self) -> None:
        """This cell runs no more commands (its tests ended, or it failed): release what it holds."""
        turns = self._turns
        with turns._cond:
            if self._state == "done":
                return
            if self._state == "queued" and self.number in turns._admit:
                turns._admit.remove(self.number)
            turns._starting.discard(self.number)
            turns._holding.discard(self.number)
            turns._testing.discard(self.number)
            self._state = "done"
            turns._cond.notify_all()


class NoTurn:
    """A cell run on its own (``cab run``): it never waits."""

    number = -1

    def admitted(self) -> None:
        pass

    def take(self) -> float:
        return 0.0

    def testing(self) -> None:
        pass

    def settle(self) -> float:
        return 0.0

    def recorded(self) -> None:
        pass

    def done(self) -> None:
        pass


NO_TURN = NoTurn()
