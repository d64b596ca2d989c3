"""The ``conflate`` operator: the latest value at most once per interval, never losing the last.

A UI fed token-by-token item updates wants to redraw a few times a second, not
once per token, and must still end up showing the final text. ``conflate``
gives exactly that:

- a value that arrives after a quiet interval is emitted at once (leading edge);
- values arriving while the interval runs are conflated: only the latest is
  kept, and it is emitted when the interval ends (trailing edge), which starts a
  new interval;
- on completion a held value is emitted first, then the completion; an error
  is passed on at once (a held value is dropped, as every Rx operator does).

``throttle_first`` loses the trailing value, ``sample`` delays the leading one
and ``debounce`` starves under a steady stream, hence this operator. Timers run
on ``scheduler``; notifications are serialized with a lock, so the upstream
and the timer may live on different threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, SerialDisposable
from reactivex.scheduler import TimeoutScheduler

__all__ = ["conflate"]

T = TypeVar("T")
_NOTHING: Any = object()


def conflate(
    seconds: float, scheduler: abc.SchedulerBase | None = None
) -> Callable[[Observable[T]], Observable[T]]:
    """Emit the latest value at most once per ``seconds``, with a trailing emission.

    ``scheduler`` runs the interval timers (default: the scheduler given to
    ``subscribe``, else :class:`~reactivex.scheduler.TimeoutScheduler`).
    """
    if seconds < 0:
        raise ValueError("conflate needs seconds >= 0")

    def operator(source: Observable[T]) -> Observable[T]:
        def subscribe(
            observer: abc.ObserverBase[T], subscribe_scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            timers = scheduler or subscribe_scheduler or TimeoutScheduler.singleton()
            lock = threading.RLock()
            timer = SerialDisposable()
            held: Any = _NOTHING  # the latest value not yet emitted
            running = False  # an interval is running
            stopped = False

            def start_interval() -> None:
                nonlocal running
                running = True
                timer.disposable = timers.schedule_relative(seconds, interval_ended)

            def interval_ended(_: abc.SchedulerBase, __: Any = None) -> None:
                nonlocal held, running
                with lock:
                    if stopped:
                        return
                    if held is _NOTHING:
                        running = False
                        return
                    value, held = held, _NOTHING
                    start_interval()
                    observer.on_next(value)

            def on_next(value: T) -> None:
                nonlocal held
                with lock:
                    if stopped:
                        return
                    if running:
                        held = value
                        return
                    start_interval()
                    observer.on_next(value)

            def on_error(error: Exception) -> None:
                nonlocal stopped, held
                with lock:
                    if stopped:
                        return
                    stopped, held = True, _NOTHING
                    observer.on_error(error)
                timer.dispose()  # outside the lock: a thread-safe timer may wait for its loop

            def on_completed() -> None:
                nonlocal stopped, held
                with lock:
                    if stopped:
                        return
                    stopped = True
                    value, held = held, _NOTHING
                    if value is not _NOTHING:
                        observer.on_next(value)
                    observer.on_completed()
                timer.dispose()

            upstream = source.subscribe(
                on_next, on_error, on_completed, scheduler=subscribe_scheduler
            )
            return CompositeDisposable(upstream, timer)

        return Observable(subscribe)

    return operator
