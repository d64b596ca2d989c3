"""Hostile input for the fuzz tests, and the runs that drive the client with it.

:func:`hostile_frame` draws one server frame that breaks the contract in some
way: envelopes with wrong or missing fields, mutated valid frames (truncated,
bytes flipped or inserted, often no longer UTF-8), random JSON, random bytes,
deep nesting, huge strings, unknown event types and top-level keys. It only
needs a ``random.Random``, so hypothesis drives it through ``st.randoms()``
(and shrinks what it finds) and the socket tests through a seeded generator.
Refusals are never drawn: a refusal legitimately ends a subscription.

:func:`check_frames` are the valid frames sent after the garbage, with the
largest timestamp a frame can carry, and :func:`expected_states` what the
client must hold once they are applied.

:func:`client_survives` sends them to a running client through the in-memory
``FakeMotiaServer`` (the client's whole receive path without a socket);
:func:`socket_client_survives` over a real WebSocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import random
import string
import sys
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

from hypothesis import strategies as st
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from motia_client import AsyncStreamClient, ReconnectPolicy
from motia_client._protocol import FUTURE_TOLERANCE_MS
from motia_client._session import Session
from motia_client.testing import FakeMotiaServer
from tests.client.sinks import RecordingSink
from tests.reliability.harness import wait_until

__all__ = [
    "FRAMES",
    "MAX_TIMESTAMP",
    "check_frames",
    "client_survives",
    "expected_states",
    "hostile_client_frame",
    "hostile_frame",
    "session_survives",
    "session_survives_frames",
    "socket_client_survives",
]

MAX_TIMESTAMP = 1.7976931348623157e308  # the largest JSON number a frame can carry (malformed)
NOW_MS = int(time.time() * 1000)
# Newer than any timestamp a hostile frame draws and the clients accept (their clock + 1 day):
# the random ones land in a 5-minute window near it with a chance of about 1e-11.
CHECK_TIMESTAMP = NOW_MS + FUTURE_TOLERANCE_MS - 5 * 60_000
STREAMS = ("s", "t", "", "s\u0000", "ß")
GROUPS = ("g", "h", "", "g/")
IDS = ("i", "j", "a", "", "i\n")
KINDS = ("sync", "create", "update", "delete", "event", "stream", "join", "", "SYNC", "patch")


def _text(rng: random.Random, size: int = 12) -> str:
    alphabet = string.printable + "é☃\u2028\u0000\U0001f600\ufeff"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, size)))


def json_value(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON value, at most 4 levels deep."""
    roll = rng.random()
    if depth >= 4 or roll < 0.5:
        return rng.choice(
            [
                None,
                True,
                False,
                rng.randint(-(2**63), 2**63 - 1),
                rng.random() * 10 ** rng.randint(-5, 300),
                -0.0,
                _text(rng),
            ]
        )
    if roll < 0.75:
        return [json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {_text(rng, 6): json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def _field(rng: random.Random, good: list[Any]) -> Any:
    """Mostly a plausible value, sometimes any JSON value (a wrong type)."""
    return rng.choice(good) if rng.random() < 0.75 else json_value(rng)


def _timestamp(rng: random.Random) -> Any:
    return _field(
        rng,
        [
            rng.randint(0, 2**53),
            rng.randint(-(2**63), 2**63 - 1),
            float(rng.randint(0, 2**40)),
            1.5,
            "1763750000123",
            MAX_TIMESTAMP,
        ],
    )


def _item(rng: random.Random) -> Any:
    item = {"id": _field(rng, list(IDS)), "n": json_value(rng), "v": json_value(rng)}
    if rng.random() < 0.2:
        del item["id"]
    return item


def _event(rng: random.Random) -> Any:
    kind = _field(rng, list(KINDS))
    event: dict[str, Any] = {"type": kind}
    if kind == "sync":
        event["data"] = _field(rng, [[_item(rng) for _ in range(rng.randint(0, 4))], None])
    elif kind == "event":
        inner = {
            "type": _field(rng, ["check", "tick", "", "error", "ping"]),
            "data": json_value(rng),
        }
        event["event"] = _field(rng, [inner, {"data": 1}])
    else:
        event["data"] = _field(rng, [_item(rng), None])
    if rng.random() < 0.2:
        event[_text(rng, 5)] = json_value(rng)
    return event


def envelope(rng: random.Random) -> dict[str, Any]:
    """A frame-shaped object whose fields may be wrong, missing or extra."""
    frame: dict[str, Any] = {
        "timestamp": _timestamp(rng),
        "streamName": _field(rng, list(STREAMS)),
        "groupId": _field(rng, list(GROUPS)),
        "event": _field(rng, [_event(rng)]),
    }
    if rng.random() < 0.6:
        frame["id"] = _field(rng, [*IDS, None])
    if rng.random() < 0.3:
        frame["type"] = _field(rng, ["stream", "event", ""])
    if rng.random() < 0.2:
        frame[_text(rng, 6)] = json_value(rng)
    for key in list(frame):
        if rng.random() < 0.05:
            del frame[key]
    return frame


def _dumps(value: Any, rng: random.Random) -> str:
    return json.dumps(value, ensure_ascii=rng.random() < 0.3, allow_nan=False)


def mutate(raw: bytes, rng: random.Random) -> bytes:
    """Flip, insert, delete, duplicate or truncate bytes of ``raw``."""
    data = bytearray(raw)
    for _ in range(rng.randint(1, 4)):
        if not data:
            data.extend(rng.randbytes(rng.randint(1, 8)))
            continue
        position = rng.randrange(len(data))
        operation = rng.randrange(6)
        if operation == 0:
            data[position] = rng.randrange(256)
        elif operation == 1:
            data[position:position] = rng.randbytes(rng.randint(1, 8))
        elif operation == 2:
            del data[position : position + rng.randint(1, 16)]
        elif operation == 3:
            del data[position:]
        elif operation == 4:
            data[position:position] = data[position : position + rng.randint(1, 32)]
        else:
            data[position:position] = rng.choice([b'"', b"{", b"]", b"\\", b"\xff", b"\xc3"])
    return bytes(data)


def _deep(depth: int, rng: random.Random) -> str:
    """Deep nesting: raw, or as the ``n`` (a sort key) or ``v`` field of a valid update."""
    opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
    inner = opener * depth + "1" + closer * depth
    if rng.random() < 0.3:
        return inner
    field = rng.choice("nv")
    return (
        f'{{"timestamp":{rng.randint(1, 2**40)},"streamName":"s","groupId":"g","id":"i",'
        f'"event":{{"type":"update","data":{{"id":"i","{field}":{inner}}}}}}}'
    )


def hostile_frame(rng: random.Random, *, huge: int = 200_000) -> str | bytes:
    """One frame that breaks the server-to-client contract (text or binary)."""
    roll = rng.random()
    if roll < 0.40:
        text = _dumps(envelope(rng), rng)
    elif roll < 0.62:
        raw = mutate(_dumps(envelope(rng), rng).encode(), rng)
        return raw if rng.random() < 0.5 else raw.decode("utf-8", "replace")
    elif roll < 0.72:
        text = _dumps(json_value(rng), rng)
    elif roll < 0.80:
        return rng.randbytes(rng.randint(0, 64))
    elif roll < 0.86:
        # orjson accepts up to 1023 levels; Python's own recursion limit is near 1000
        depths = [rng.randint(10, 900), rng.randint(950, 1023), rng.randint(950, 1023), 100_000]
        text = _deep(rng.choice(depths), rng)
    elif roll < 0.88:
        size = rng.randint(huge // 10, huge)
        text = _dumps(
            {
                "timestamp": 1,
                "streamName": "s",
                "groupId": "g",
                "id": "i",
                "event": {"type": "update", "data": {"id": "i", "v": "x" * size}},
            },
            rng,
        )
    elif roll < 0.92:
        text = _text(rng, 40)  # not JSON at all
    else:  # unknown event types and top-level keys on an otherwise valid frame
        text = _dumps(
            {
                "type": rng.choice(["stream", "other", None]),
                "timestamp": rng.randint(0, 2**40),
                "streamName": "s",
                "groupId": "g",
                "id": rng.choice(["i", None]),
                "event": {"type": _text(rng, 10) or "x", "data": json_value(rng)},
                _text(rng, 6) or "k": json_value(rng),
            },
            rng,
        )
    return text.encode() if rng.random() < 0.3 else text


def hostile_client_frame(rng: random.Random, *, huge: int = 60_000) -> str | bytes:
    """One client-to-server frame that breaks the contract (for the stub's socket)."""
    roll = rng.random()
    if roll < 0.35:
        data = {
            "streamName": _field(rng, ["s", "todo", "x" * 300, ""]),
            "groupId": _field(rng, ["g", "inbox", "x" * 300]),
            "subscriptionId": _field(rng, ["sub-1", "", "x" * 300]),
        }
        if rng.random() < 0.5:
            data["id"] = _field(rng, ["i", "", None, "x" * 300])
        message: Any = {"type": _field(rng, ["join", "leave", "JOIN", "ping"]), "data": data}
        if rng.random() < 0.2:
            message = {"type": "join", "data": json_value(rng)}
        text = _dumps(message, rng)
    elif roll < 0.55:
        valid = '{"type":"join","data":{"streamName":"s","groupId":"g","subscriptionId":"x"}}'
        raw = mutate(valid.encode(), rng)
        return raw if rng.random() < 0.5 else raw.decode("utf-8", "replace")
    elif roll < 0.65:
        text = _dumps(json_value(rng), rng)
    elif roll < 0.75:
        return rng.randbytes(rng.randint(0, 64))
    elif roll < 0.82:
        depth = rng.choice([100, 1000, 20_000])
        text = '{"type":"join","data":' + "[" * depth + "]" * depth + "}"
    elif roll < 0.86:
        text = '{"type":"join","data":{"streamName":"' + "s" * rng.randint(1, huge) + '"}}'
    else:
        text = _text(rng, 40)
    return text.encode() if rng.random() < 0.3 else text


# -- what follows the garbage ---------------------------------------------------------------


def check_frames(marker: int) -> list[str]:
    """Valid frames, newer than anything, whose effect :func:`expected_states` describes."""

    def frame(stream: str, group: str, item_id: str | None, event: dict[str, Any]) -> str:
        envelope: dict[str, Any] = {
            "timestamp": CHECK_TIMESTAMP,
            "streamName": stream,
            "groupId": group,
        }
        if item_id is not None:
            envelope["id"] = item_id
        envelope["event"] = event
        return json.dumps(envelope)

    return [
        frame("s", "g", None, {"type": "sync", "data": [{"id": "a", "n": 1}]}),
        frame("s", "g", "i", {"type": "update", "data": {"id": "i", "n": marker}}),
        frame("t", "g", None, {"type": "sync", "data": [{"id": "z", "n": marker}]}),
        frame("s", "g", None, {"type": "event", "event": {"type": "check", "data": marker}}),
    ]


def expected_states(marker: int) -> dict[str, Any]:
    """What each room holds after :func:`check_frames`."""
    return {
        "group": [{"id": "a", "n": 1}, {"id": "i", "n": marker}],
        "item": {"id": "i", "n": marker},
        "other": [{"id": "z", "n": marker}],
    }


# -- the properties ------------------------------------------------------------------------


@contextlib.contextmanager
def production_recursion_limit() -> Iterator[None]:
    """Python's default recursion limit (1000), as the client runs with it.

    Hypothesis raises the limit while a test runs; frames nested ~1000 deep (orjson
    accepts up to 1023) only hit Python's limit, as they would in production,
    with the default one. About 50 frames are left for the caller's stack.
    """
    frame: FrameType | None = sys._getframe()
    depth = 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + 950)
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def _fuzzed_session() -> tuple[Session, dict[str, RecordingSink]]:
    session = Session()
    sinks = {
        "group": RecordingSink("group").subscribe(session, "s", "g"),
        "sorted": RecordingSink("sorted").subscribe(session, "s", "g", sort_key="n"),
        "item": RecordingSink("item").subscribe(session, "s", "g", "i"),
        "other": RecordingSink("other").subscribe(session, "t", "g"),
    }
    session.connect()
    session.connection_made(NOW_MS)
    return session, sinks


def _check_session(session: Session, sinks: dict[str, RecordingSink], marker: int) -> None:
    for raw in check_frames(marker):
        session.receive(raw)
    expected = expected_states(marker)
    assert sinks["group"].state == expected["group"]
    assert sorted(sinks["sorted"].state, key=lambda i: i["id"]) == expected["group"]
    assert sinks["item"].state == expected["item"]
    assert sinks["other"].state == expected["other"]
    assert sinks["group"].events[-1] == ("check", marker)


def session_survives(rng: random.Random, count: int) -> None:
    """``count`` hostile frames into ``Session.receive``; valid frames after them still apply."""
    session, sinks = _fuzzed_session()
    with production_recursion_limit():
        for _ in range(count):
            session.receive(hostile_frame(rng))
    _check_session(session, sinks, 7)


async def client_survives(rng: random.Random, count: int) -> None:
    """The same through a running :class:`AsyncStreamClient` (on a ``FakeMotiaServer``).

    The client must not reconnect, fail, or lose a listener; the check frames'
    state must arrive and the check event be heard exactly once per subscriber.
    """
    server = FakeMotiaServer()  # it answers the joins; the garbage follows
    client = AsyncStreamClient(server.url, transport=server.transport)
    await client.connect()
    try:
        group = client.subscribe_group("s", "g")
        by_n = client.subscribe_group("s", "g", sort_key="n")
        item = client.subscribe_item("s", "g", "i")
        other = client.subscribe_group("t", "g")
        heard: list[Any] = []
        group.on_event("check", heard.append)
        by_n.on_event("check", heard.append)
        changes: list[Any] = []
        for sub in (group, by_n, item, other):
            sub.add_change_listener(changes.append)
        with production_recursion_limit():  # the frames are handled inside send_raw
            for _ in range(count):
                await server.send_raw(hostile_frame(rng, huge=50_000))
            await server.send_raw(*check_frames(11))
            await wait_until(
                lambda: len(heard) >= 2, timeout=10, step=0.001, what="the check event"
            )
        expected = expected_states(11)
        assert heard == [11, 11]
        assert list(group.state) == expected["group"]
        assert sorted(by_n.state, key=lambda i: i["id"]) == expected["group"]
        assert item.state == expected["item"]
        assert list(other.state) == expected["other"]
        assert changes  # the listeners still run
        assert client.is_connected
        assert len(server.attempts) == 1  # garbage never cost a reconnect
        supervisor = client._task
        assert supervisor is not None
        assert not supervisor.done()
    finally:
        await client.close()


# -- the same kind of frames as hypothesis strategies (shrinkable) ---------------------------

_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
JSON = st.recursive(
    _leaf,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=10,
)


def _or_junk(*good: Any) -> st.SearchStrategy[Any]:
    return st.sampled_from(good) | JSON


_ITEMS = st.fixed_dictionaries({"id": _or_junk(*IDS)}, optional={"n": JSON, "v": JSON})
_EVENTS = st.fixed_dictionaries(
    {"type": _or_junk(*KINDS)},
    optional={
        "data": JSON | _ITEMS | st.lists(_ITEMS | JSON, max_size=3),
        "event": st.fixed_dictionaries(
            {"type": _or_junk("check", "error", "")}, optional={"data": JSON}
        )
        | JSON,
    },
)
ENVELOPES = st.fixed_dictionaries(
    {},
    optional={
        "timestamp": _or_junk(0, 1, 2**53, MAX_TIMESTAMP, 1.5, "1") | st.integers(0, 2**63 - 1),
        "streamName": _or_junk(*STREAMS),
        "groupId": _or_junk(*GROUPS),
        "id": _or_junk(*IDS, None),
        "type": _or_junk("stream", "event"),
        "event": _EVENTS | JSON,
    },
)
FRAMES: st.SearchStrategy[str | bytes] = st.one_of(
    ENVELOPES.map(json.dumps),
    ENVELOPES.map(lambda e: json.dumps(e).encode()),
    JSON.map(json.dumps),
    st.binary(max_size=80),
    st.text(max_size=80),
    st.integers(1, 3000).map(lambda depth: "[" * depth + "]" * depth),
)
"""Hostile frames drawn natively by hypothesis (fast to draw, shrink to a minimal case)."""


def session_survives_frames(frames: list[str | bytes]) -> None:
    """:func:`session_survives` for given frames."""
    session, sinks = _fuzzed_session()
    with production_recursion_limit():
        for raw in frames:
            session.receive(raw)
    _check_session(session, sinks, 5)


# -- through a real socket ------------------------------------------------------------------


class TruthServer:
    """A stream server holding the truth for group ``s/g``: joins get a sync of it.

    :meth:`update` changes the truth and sends the change; :meth:`send_all` sends
    anything (hostile frames included) to every open connection.
    """

    def __init__(self) -> None:
        self.truth: dict[str, dict[str, Any]] = {"a": {"id": "a", "n": 0}}
        self.handshakes = 0
        self.server: Server | None = None
        self._connections: list[ServerConnection] = []

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/"

    async def __aenter__(self) -> TruthServer:
        self.server = await serve(self._handle, "127.0.0.1", 0, max_size=2**20, compression=None)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.server is not None
        self.server.close()
        await asyncio.wait_for(self.server.wait_closed(), 5)

    async def _handle(self, conn: ServerConnection) -> None:
        self.handshakes += 1
        self._connections.append(conn)
        with contextlib.suppress(ConnectionClosed):
            async for message in conn:
                join = json.loads(message)
                if join.get("type") != "join":
                    continue
                data = join["data"]
                item_id = data.get("id")
                payload: Any = (
                    self.truth.get(item_id) if item_id is not None else list(self.truth.values())
                )
                await conn.send(_envelope("sync", payload, item_id))

    async def send_all(self, message: str | bytes, *, text: bool | None = None) -> None:
        for conn in self._connections:
            if conn.close_code is None:
                with contextlib.suppress(ConnectionClosed):
                    await conn.send(message, text=text)

    async def update(self, key: str, value: int) -> None:
        self.truth[key] = {"id": key, "n": value}
        await self.send_all(_envelope("update", self.truth[key], key))


def _more_handshakes(server: TruthServer, before: int) -> bool:
    return server.handshakes > before


def _envelope(kind: str, data: Any, item_id: str | None) -> str:
    frame: dict[str, Any] = {"timestamp": CHECK_TIMESTAMP, "streamName": "s", "groupId": "g"}
    if item_id is not None:
        frame["id"] = item_id
    frame["event"] = {"type": kind, "data": data}
    return json.dumps(frame)


async def socket_client_survives(seed: int, transport: str, count: int) -> dict[str, int]:
    """``count`` hostile frames over a real WebSocket, plus invalid UTF-8 in text frames
    and one frame over the client's ``max_size``: the client reconnects where it must,
    and ends equal to the server's truth. Returns what happened."""
    rng = random.Random(seed)
    sent = {"frames": 0, "invalid_text": 0, "oversize": 0}
    async with TruthServer() as server:
        client = AsyncStreamClient(
            server.url,
            transport=transport,  # type: ignore[arg-type]
            max_size=2**20,
            reconnect=ReconnectPolicy(initial=0.02, cap=0.1),
        )
        async with client:
            group = client.subscribe_group("s", "g")
            item = client.subscribe_item("s", "g", "i")
            await group.wait_for(lambda items: len(items) == 1, timeout=5)
            with production_recursion_limit():
                for index in range(count):
                    frame = hostile_frame(rng)
                    await server.send_all(frame)
                    sent["frames"] += 1
                    if rng.random() < 0.02:  # invalid UTF-8 in a text frame: websockets closes
                        await server.send_all(rng.randbytes(8) + b"\xff\xfe", text=True)
                        sent["invalid_text"] += 1
                    if index == count // 2:  # larger than the client accepts: it reconnects
                        reconnected = functools.partial(_more_handshakes, server, server.handshakes)
                        await server.send_all("[" + "0," * 2**20 + "0]")
                        sent["oversize"] += 1
                        await wait_until(reconnected, what="a reconnect")
                    if index % 5 == 0:
                        await server.update(rng.choice("aib"), index)
                await server.update("i", -1)
                # Hostile frames may be valid for the group (a create of "j" at the largest
                # timestamp): a last sync, valid like any frame after the garbage, resets it.
                await server.send_all(_envelope("sync", list(server.truth.values()), None))

                def converged() -> bool:
                    return dict(group.items_by_id) == server.truth and (
                        item.state == server.truth["i"]
                    )

                await wait_until(converged, timeout=15, what="the client equals the truth")
            assert client.is_connected
            sent["reconnects"] = server.handshakes - 1
    return sent
