"""A worker's drain, as the application sees it.

`rps_site.serve` drains a worker on SIGTERM: its health check answers 503, it stops accepting
connections, lets the device sessions it holds finish within `RPS_DRAIN_SECONDS`, and then, to
the sessions still running, says the deadline has passed, so each ends with a reason its client
shows and its run records, instead of a dropped socket.
"""

from __future__ import annotations

from collections.abc import Callable


class WorkerDrain:
    def __init__(self) -> None:
        self.draining = False
        self._at_deadline: set[Callable[[], None]] = set()

    def begin(self) -> None:
        self.draining = True

    def at_deadline(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` if the drain deadline passes; returns what cancels that."""
        self._at_deadline.add(callback)
        return lambda: self._at_deadline.discard(callback)

    def deadline_passed(self) -> None:
        callbacks, self._at_deadline = self._at_deadline, set()
        for callback in callbacks:
            callback()


worker = WorkerDrain()
