"""A background loop of the service on a thread of its own: ``start`` it, ``stop`` it (the round in
progress is finished first). The alert dispatcher and the report scheduler are such loops."""

from __future__ import annotations

import threading


class BackgroundLoop:
    """Subclasses set ``thread_name``, call ``super().__init__()`` and write ``_run``, which ends
    when ``_stopping`` is set (wait on it between rounds)."""

    thread_name = "leitplanke-loop"

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the loop to end and wait for it; the round in progress is finished first (within
        ``timeout``)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        raise NotImplementedError
