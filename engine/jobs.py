"""Job runners: who wakes up to fire timers.

Timers are fired by sweepers only: a thread of the web process in the embedded default (no Redis),
or the sweeper of each `fengqiao worker` (with Redis, next to an RQ worker that runs webhook
deliveries). No RQ job is scheduled per timer: it cost 15.6 % of the CPU of the units of work that
create timers and the sweeper fired 52 of 60 due timers before their job ran (docs/webhooks.md,
"RQ's role"). `fire_timer_job` stays so that jobs queued by an older version still run; firing is
idempotent, so such a job after the sweeper is a no-op.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

log = logging.getLogger("fengqiao.jobs")
QUEUE_NAME = "fengqiao"
PURGE_EVERY = timedelta(minutes=10)  # dead login tokens are few per minute; a purge needs not run on every sweep


class Sweeper:
    """Fires due timers in a loop until stopped; `wake()` shortens the wait for an earlier timer."""

    def __init__(self, engine, interval: float | None = None):
        self.engine = engine
        self.interval = interval if interval is not None else engine.settings.sweep_interval_seconds
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_purge: datetime | None = None  # engine-clock time of the next token purge
        self._backfilled = False  # versions deployed before timer start events were scheduled

    def start(self) -> Sweeper:
        if self._thread is None:
            self._thread = threading.Thread(target=self.run, name="fengqiao-sweeper", daemon=True)
            self._thread.start()
        return self

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sweep()
            except Exception:  # the database may be briefly away; keep sweeping
                log.exception("sweep failed")
            self._wake.wait(self.interval)
            self._wake.clear()

    def sweep(self) -> int:
        """Fire what is due and relay the signals cases threw; with nothing done, do the housekeeping
        that is due (dead login tokens)."""
        if not self._backfilled:
            self.engine.start_timers.backfill()
            self._backfilled = True
        fired = self.engine.timers.fire_all_due()
        fired += self.engine.start_timers.fire_all_due()  # timer start events start cases (issue 19)
        fired += self.engine.signals.relay_once()  # signals thrown in cases, to the other cases (issue 19)
        for duty in list(self.engine.sweep_duties):  # e.g. notifications (webhooks/): a failure stays theirs
            try:
                duty()
            except Exception:
                log.exception("sweep duty %r failed", duty)
        now = self.engine.clock.now()
        if not fired and (self._next_purge is None or now >= self._next_purge):
            self._next_purge = now + PURGE_EVERY
            self.engine.tokens.purge_expired()
        return fired

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


class EmbeddedJobs:
    """No Redis: the sweeper thread (started by `fengqiao serve`) is the only runner."""

    def __init__(self, engine):
        self.engine = engine
        self.sweeper: Sweeper | None = None

    def schedule(self, timers: list[tuple[int, datetime]]) -> None:
        """Wake the sweeper only for a timer due before its next regular sweep: a sweep is a write
        transaction, which the next request would queue behind (SLA marks fall due hours later)."""
        if not timers or self.sweeper is None:
            return
        soon = self.engine.clock.now() + timedelta(seconds=self.sweeper.interval)
        if min(due_at for _timer_id, due_at in timers) <= soon:
            self.sweeper.wake()

    def start(self) -> Sweeper:
        self.sweeper = Sweeper(self.engine).start()
        return self.sweeper

    def stop(self) -> None:
        if self.sweeper is not None:
            self.sweeper.stop()
            self.sweeper = None


class RedisJobs:
    """With Redis: the RQ queue that webhook deliveries use (webhooks/); timers are left to the
    workers' sweepers, which poll the timer table every `sweep_interval_seconds`."""

    def __init__(self, engine, redis_url: str):
        from redis import Redis
        from rq import Queue

        self.engine = engine
        self.connection = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
        self.queue = Queue(QUEUE_NAME, connection=self.connection)

    def schedule(self, timers: list[tuple[int, datetime]]) -> None:
        """Nothing to do: the workers' sweepers find new timers in the database (no Redis round trip
        on the unit of work that created them)."""
        return None

    def start(self):  # the web process does not run jobs; `fengqiao worker` does
        return None

    def stop(self) -> None:
        return None


def for_engine(engine):
    return RedisJobs(engine, engine.settings.redis_url) if engine.settings.redis_url else EmbeddedJobs(engine)


# --- the worker side ---------------------------------------------------------------------------
_worker_engine = None


def _engine():
    global _worker_engine
    if _worker_engine is None:
        from . import Engine

        _worker_engine = Engine()
    return _worker_engine


def worker_engine():
    """The engine of this worker process (RQ jobs of other packages use it too)."""
    return _engine()


def fire_timer_job(timer_id: int) -> str:
    """RQ job of older versions, which queued one per timer (job id `timer-<id>`): still run by
    `fengqiao worker` after an upgrade; firing is idempotent, so a job the sweeper beat is a no-op."""
    return _engine().timers.fire(timer_id)


def run_worker(engine, burst: bool = False) -> None:
    """`fengqiao worker` with Redis: the sweeper thread fires timers; the RQ worker with its scheduler
    runs webhook deliveries (and timer jobs an older version queued)."""
    # SimpleWorker runs jobs in this process: firing is a short database transaction, and a forked
    # work-horse would inherit pooled database connections it must not share.
    from rq import SimpleWorker

    global _worker_engine
    _worker_engine = engine
    jobs = engine.jobs
    if not isinstance(jobs, RedisJobs):
        raise RuntimeError("FENGQIAO_REDIS_URL is not set: the embedded runner runs inside `fengqiao serve`")
    sweeper = Sweeper(engine).start()
    try:
        worker = SimpleWorker([jobs.queue], connection=jobs.connection)
        worker.work(with_scheduler=True, burst=burst, logging_level="WARNING")
    finally:
        sweeper.stop()
