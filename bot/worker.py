"""One generation queue per process. Generation is CPU-bound: two chats generating at once on two cores
would both be slow, so jobs run one after another, waiting clients learn their position, and a job whose
client has gone is skipped or stopped mid-generation.

Fair to clients (a client is a network address): one client holds at most a share of the queue, and the
queue is served round-robin across clients, each client's questions in their order. A client that sends
twenty questions at once waits behind its own, not in front of everyone else's."""

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


class ClientQueueFull(QueueFull):
    """This client already holds its share of the queue; others may still get a place."""


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
    client: str = ""
    position: int = 0
    """Last place in the queue told to the client (0: not told)."""

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
    def __init__(self, max_queue: int, client_share: float = 1.0):
        self._max_queue = max_queue
        self._per_client = max(1, int(max_queue * client_share))
        self._served: dict[str, int] = {}
        """client → number of the job last started for it (round-robin: the longest unserved goes first)."""
        self._started = 0
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

    def submit(self, function: JobFunction, client: str = "") -> Job:
        if len(self._pending) >= self._max_queue:
            raise QueueFull(f"{len(self._pending)} chats are waiting")
        if client and sum(1 for job in self._pending if job.client == client) >= self._per_client:
            raise ClientQueueFull(f"{self._per_client} questions of this client are waiting")
        job = Job(function, asyncio.get_running_loop(), client=client)
        self._pending.append(job)
        if self.busy or len(self._pending) > 1:
            self._tell_positions(job)
        self._wakeup.set()
        return job

    def _order(self) -> list[Job]:
        """The waiting jobs in the order they will run: round-robin over clients, the client served longest
        ago first, each client's jobs in arrival order."""
        queues: dict[str, list[Job]] = {}
        for job in self._pending:
            queues.setdefault(job.client, []).append(job)
        clients = sorted(queues, key=lambda c: self._served.get(c, -1))
        order: list[Job] = []
        while any(queues.values()):
            for client in clients:
                if queues[client]:
                    order.append(queues[client].pop(0))
        return order

    def _tell_positions(self, new: Job | None = None) -> None:
        """Every waiting job learns its place when it changed; `new` learns it in any case."""
        for index, job in enumerate(self._order(), 1):
            if job is new or job.position != index:
                job.position = index
                job.events.put_nowait(Position(index))

    async def _run(self) -> None:
        while True:
            while not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
            job = self._order()[0]
            self._pending.remove(job)
            self._started += 1
            waiting = {other.client for other in self._pending}
            self._served = {c: n for c, n in self._served.items() if c in waiting}
            self._served[job.client] = self._started
            self._tell_positions()
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
