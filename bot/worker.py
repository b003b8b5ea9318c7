"""One generation queue per process. Generation is CPU-bound: two chats generating at once on two cores
would both be slow, so jobs run one after another, waiting clients learn their position, and a job whose
client has gone is skipped or stopped mid-generation."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

JobFunction = Callable[[threading.Event], Iterator[Any]]


class QueueFull(RuntimeError):
    pass


@dataclass(frozen=True)
class Position:
    position: int
    """1 = next in line."""


@dataclass
class _Done:
    error: BaseException | None = None


@dataclass
class Job:
    function: JobFunction
    loop: asyncio.AbstractEventLoop
    cancel: threading.Event = field(default_factory=threading.Event)
    events: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)

    @classmethod
    def finished(cls, *events: Any) -> Job:
        """A job that needs no worker: its events are there at once."""
        job = cls(lambda cancel: iter(()), asyncio.get_running_loop())
        for event in events:
            job.events.put_nowait(event)
        job.events.put_nowait(_Done())
        return job

    def push(self, event: Any) -> None:
        self.loop.call_soon_threadsafe(self.events.put_nowait, event)

    async def results(self) -> AsyncIterator[Any]:
        """Position updates and the job's own events, in order; re-raises the job's error."""
        while True:
            event = await self.events.get()
            if isinstance(event, _Done):
                if event.error is not None:
                    raise event.error
                return
            yield event


class GenerationWorker:
    def __init__(self, max_queue: int):
        self._max_queue = max_queue
        self._pending: list[Job] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.busy = False

    @property
    def waiting(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="siwi-generation-worker")

    async def stop(self) -> None:
        for job in self._pending:
            job.cancel.set()
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    def submit(self, function: JobFunction) -> Job:
        if len(self._pending) >= self._max_queue:
            raise QueueFull(f"{len(self._pending)} chats are waiting")
        job = Job(function, asyncio.get_running_loop())
        self._pending.append(job)
        if self.busy or len(self._pending) > 1:
            job.events.put_nowait(Position(len(self._pending)))
        self._wakeup.set()
        return job

    async def _run(self) -> None:
        while True:
            while not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
            job = self._pending.pop(0)
            for index, waiting in enumerate(self._pending, 1):
                waiting.events.put_nowait(Position(index))
            if job.cancel.is_set():
                job.events.put_nowait(_Done())
                continue
            self.busy = True
            try:
                await asyncio.to_thread(self._execute, job)
            finally:
                self.busy = False

    @staticmethod
    def _execute(job: Job) -> None:
        try:
            for event in job.function(job.cancel):
                job.push(event)
                if job.cancel.is_set():
                    break
        except Exception as exc:  # delivered to the waiting client, logged here
            log.exception("generation failed")
            job.push(_Done(exc))
            return
        job.push(_Done())
