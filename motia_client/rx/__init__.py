"""Reactive streams: reactivex observables that mirror the Motia React hooks.

``@motiadev/stream-client-react`` gives web apps ``useStreamItem``,
``useStreamGroup``, ``useStreamEventHandler`` and ``useMotiaStream``; these are
the same, as `reactivex <https://github.com/ReactiveX/RxPY>`_ observables over
an :class:`~motia_client.AsyncStreamClient` or a :class:`~motia_client.StreamClient`::

    from motia_client.rx import use_stream_group
    use_stream_group(client, "todo", "inbox").subscribe(print)

Like a hook: nothing is joined until the first observer subscribes; observers
of one observable share one subscription; the last disposal leaves; a late
observer gets the current state at once; a refused join arrives as
``on_error``; closing the client completes the observables. Values are
immutable snapshots, emitted on the client's loop unless ``scheduler=`` moves
them; ``conflate=seconds`` emits at most the latest value per interval.
"""

from __future__ import annotations

from motia_client.rx._hooks import (
    use_item_changes,
    use_motia_stream,
    use_stream_event_handler,
    use_stream_group,
    use_stream_item,
)

__all__ = [
    "use_item_changes",
    "use_motia_stream",
    "use_stream_event_handler",
    "use_stream_group",
    "use_stream_item",
]

for _name in __all__:
    globals()[_name].__module__ = __name__  # reprs and docs read motia_client.rx.X
del _name
