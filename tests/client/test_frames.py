"""DataFrames of subscriptions: to_pandas(), to_polars(), their columns, ids and order.

Through real subscriptions on the reference server (in process, 127.0.0.1, a
free port) for what a user calls, and on hand-made rows for what a server of
ours never sends (odd values the conversion must not lose). The live frame
view is tested with the other displays, in ``test_notebook.py``; the ImportError
of a missing library in a subprocess where the import is blocked.
"""

from __future__ import annotations

import datetime
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from typing import Any

import pandas as pd
import polars as pl
import pydantic
import pytest

from motia_client import AsyncStreamClient, StreamClient, _frames
from server_stub import StubServer

WAIT = 5.0


def todo(n: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"t{n}", "description": f"todo {n}", "createdAt": f"2024-01-0{n}", **extra}


class Todo(pydantic.BaseModel):
    id: str
    description: str
    createdAt: datetime.datetime
    done: bool = False


@pytest.fixture
async def stub() -> AsyncIterator[StubServer]:
    async with StubServer(host="127.0.0.1", port=0) as server:
        yield server


@pytest.fixture
async def client(stub: StubServer) -> AsyncIterator[AsyncStreamClient]:
    async with AsyncStreamClient(stub.ws_url) as c:
        yield c


# -- through subscriptions ------------------------------------------------------------------


async def test_a_group_converts_in_its_order_with_ids(
    stub: StubServer, client: AsyncStreamClient
) -> None:
    for n in (3, 1, 2):
        await stub.store.set("todo", "inbox", f"t{n}", todo(n, _createdAt=n * 10))
    todos = client.subscribe_group("todo", "inbox", sort_key="createdAt")
    await todos.wait_for(lambda items: len(items) == 3, WAIT)

    frame = todos.to_pandas()
    assert list(frame.index) == ["t1", "t2", "t3"]  # the subscription's order, not the writes'
    assert frame.index.name == "id"
    assert list(frame.columns) == ["description", "createdAt", "_createdAt"]  # id is the index
    assert list(frame["description"]) == ["todo 1", "todo 2", "todo 3"]
    assert list(frame["_createdAt"]) == [10, 20, 30]  # server fields are kept
    assert frame.loc["t2", "createdAt"] == "2024-01-02"

    polars = todos.to_polars()
    assert polars.columns == ["id", "description", "createdAt", "_createdAt"]
    assert polars["id"].to_list() == ["t1", "t2", "t3"]
    assert polars.row(0) == ("t1", "todo 1", "2024-01-01", 10)

    # A change that moves an item moves its row; a new field becomes a column.
    await stub.store.set("todo", "inbox", "t1", todo(1, createdAt="2024-01-09", done=True))
    await todos.wait_for(lambda items: items[-1]["id"] == "t1", WAIT)
    frame = todos.to_pandas()
    assert list(frame.index) == ["t2", "t3", "t1"]
    assert frame.loc["t1", "done"] == True  # noqa: E712 (a numpy bool)
    assert pd.isna(frame.loc["t2", "done"])  # missing in the others
    assert todos.to_polars()["done"].to_list() == [None, None, True]


async def test_model_items_are_dumped_with_their_types(
    stub: StubServer, client: AsyncStreamClient
) -> None:
    await stub.store.set("todo", "inbox", "t1", todo(1, extra="ignored by the model"))
    await stub.store.set("todo", "inbox", "t2", todo(2))
    todos = client.subscribe_group("todo", "inbox", model=Todo)
    await todos.wait_for(lambda items: len(items) == 2, WAIT)

    frame = todos.to_pandas()
    assert list(frame.index) == ["t1", "t2"]
    assert list(frame.columns) == ["description", "createdAt", "done"]  # the model's fields
    assert pd.api.types.is_datetime64_any_dtype(frame["createdAt"])  # a datetime, not a string
    assert list(frame["done"]) == [False, False]  # the model's default
    polars = todos.to_polars()
    assert polars.columns == ["id", "description", "createdAt", "done"]
    assert polars.schema["createdAt"] == pl.Datetime("us")
    assert polars["createdAt"].to_list()[1] == datetime.datetime(2024, 1, 2)


async def test_an_empty_group_gives_an_empty_frame(
    stub: StubServer, client: AsyncStreamClient
) -> None:
    plain = client.subscribe_group("todo", "empty")
    typed = client.subscribe_group("todo", "empty", model=Todo)
    await plain.wait_for(lambda items: True, WAIT)
    await typed.wait_for(lambda items: True, WAIT)

    frame = plain.to_pandas()
    assert frame.shape == (0, 0)
    assert frame.index.name == "id"
    assert plain.to_polars().columns == ["id"]
    assert plain.to_polars().schema["id"] == pl.String
    # With a model the columns are known before any item exists.
    assert list(typed.to_pandas().columns) == ["description", "createdAt", "done"]
    assert typed.to_polars().columns == ["id", "description", "createdAt", "done"]
    assert typed.to_polars().height == 0


async def test_an_item_subscription_is_one_row_or_none(
    stub: StubServer, client: AsyncStreamClient
) -> None:
    item = client.subscribe_item("todo", "inbox", "t1")
    assert item.state is None  # no item (yet): no row
    assert item.to_pandas().shape == (0, 0)
    assert item.to_polars().columns == ["id"]
    await stub.store.set("todo", "inbox", "t1", todo(1))
    await item.wait_for(lambda value: value is not None, WAIT)
    frame = item.to_pandas()
    assert list(frame.index) == ["t1"]
    assert frame.loc["t1", "description"] == "todo 1"
    assert item.to_polars().row(0, named=True)["id"] == "t1"


def test_a_blocking_subscription_converts_what_its_state_holds() -> None:
    with (
        StubServer(host="127.0.0.1", port=0).in_thread() as stub,
        StreamClient(stub.ws_url) as client,
    ):
        for n in (2, 1):
            stub.run(stub.store.set("todo", "inbox", f"t{n}", todo(n)))
        todos = client.subscribe_group("todo", "inbox", sort_key="createdAt", model=Todo)
        todos.wait_for(lambda items: len(items) == 2, WAIT)
        assert todos.model is Todo
        assert list(todos.to_pandas().index) == [t.id for t in todos.state] == ["t1", "t2"]
        assert todos.to_polars()["description"].to_list() == ["todo 1", "todo 2"]
        item = client.subscribe_item("todo", "inbox", "t2")
        item.wait_for(lambda value: value is not None, WAIT)
        assert list(item.to_pandas().index) == ["t2"]
    # After the close the last state is still there to convert.
    assert list(todos.to_pandas()["description"]) == ["todo 1", "todo 2"]
    assert item.to_polars()["id"].to_list() == ["t2"]


# -- on hand-made rows ----------------------------------------------------------------------


def rows(*items: dict[str, Any], ids: list[str] | None = None) -> _frames.Rows:
    keys = ids if ids is not None else [str(item["id"]) for item in items]
    return _frames.Rows(keys, list(items), len(items))


def test_columns_are_the_union_in_first_seen_order() -> None:
    source = rows({"id": "a", "x": 1}, {"id": "b", "y": "s", "x": 2}, {"id": "c", "z": None})
    assert list(_frames.to_pandas(source).columns) == ["x", "y", "z"]
    assert _frames.to_polars(source).columns == ["id", "x", "y", "z"]


def test_the_index_is_the_stream_key() -> None:
    # The key the client holds the item under (an id that is not a string is not one).
    source = rows({"id": 5, "n": 1}, {"n": 2}, ids=["5", "k"])
    assert list(_frames.to_pandas(source).index) == ["5", "k"]
    assert _frames.to_polars(source)["id"].to_list() == ["5", "k"]


def test_polars_columns_lose_no_value() -> None:
    late = [{"id": f"i{n}", "n": n} for n in range(150)] + [{"id": "last", "n": "x", "new": 1}]
    frame = _frames.to_polars(rows(*late))
    assert frame["n"].to_list()[-1] == "x"  # polars alone fails on a type seen late
    assert frame["new"].to_list()[-1] == 1  # and drops a column first seen after 100 rows
    mixed = _frames.to_polars(rows({"id": "a", "v": 1}, {"id": "b", "v": {"x": 1}}))
    assert mixed["v"].to_list() == [1, {"x": 1}]  # polars alone makes the 1 a null
    assert mixed.schema["v"] == pl.Object
    lists = _frames.to_polars(rows({"id": "a", "v": [1]}, {"id": "b", "v": "x"}))
    assert lists["v"].to_list() == [[1], "x"]
    numbers = _frames.to_polars(rows({"id": "a", "v": 1}, {"id": "b", "v": 1.5}))
    assert numbers.schema["v"] == pl.Float64  # a common type, when nothing changes
    nested = _frames.to_polars(rows({"id": "a", "v": {"x": 1}}, {"id": "b", "v": {"y": "s"}}))
    assert nested["v"].to_list()[1]["y"] == "s"  # polars alone keeps the first object's keys
    flags = _frames.to_polars(rows({"id": "a", "v": True}, {"id": "b", "v": 2}))
    assert flags["v"].to_list() == [True, 2]  # not [1, 2]


def test_frame_view_arguments_are_checked() -> None:
    client = StreamClient("ws://127.0.0.1:9/")  # never connected: nothing is needed
    try:
        sub = client.subscribe_group("todo", "inbox")
        with pytest.raises(ValueError, match="library must be 'pandas' or 'polars', not 'numpy'"):
            sub.frame_view("numpy")  # type: ignore[arg-type]
        for bad in (-1, 2.5, True):
            with pytest.raises(ValueError, match="max_rows must be an integer >= 0"):
                sub.frame_view(max_rows=bad)  # type: ignore[arg-type]
        assert sub.frame_view("polars", max_rows=0).max_rows == 0
    finally:
        client.close()


# -- the optional libraries -----------------------------------------------------------------


def run_blocked(blocked: tuple[str, ...], code: str) -> str:
    """Run ``code`` in a fresh interpreter where importing ``blocked`` fails as if absent."""
    script = textwrap.dedent(
        f"""
        import importlib.abc, sys

        class Absent(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {blocked!r}:
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
                return None

        sys.meta_path.insert(0, Absent())
        """
    ) + textwrap.dedent(code)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_missing_library_names_its_extra() -> None:
    out = run_blocked(
        ("pandas", "polars"),
        """
        from motia_client import StreamClient

        client = StreamClient("ws://127.0.0.1:9/")   # never connected: nothing is needed
        sub = client.subscribe_group("todo", "inbox")
        for call in (sub.to_pandas, sub.to_polars, sub.frame_view,
                     lambda: sub.frame_view("polars"), sub.subscription.to_pandas):
            try:
                call()
            except ImportError as exc:
                print(exc, "|", type(exc.__cause__).__name__)
        client.close()
        """,
    )
    assert out.splitlines() == [
        "to_pandas() needs pandas: pip install 'motia-client[pandas]' | ModuleNotFoundError",
        "to_polars() needs polars: pip install 'motia-client[polars]' | ModuleNotFoundError",
        "frame_view() needs pandas: pip install 'motia-client[pandas]' | ModuleNotFoundError",
        "frame_view() needs polars: pip install 'motia-client[polars]' | ModuleNotFoundError",
        "to_pandas() needs pandas: pip install 'motia-client[pandas]' | ModuleNotFoundError",
    ]


def test_one_library_is_enough_for_its_own_calls() -> None:
    out = run_blocked(
        ("pandas",),
        """
        from motia_client import StreamClient

        client = StreamClient("ws://127.0.0.1:9/")
        sub = client.subscribe_group("todo", "inbox")
        print(sub.to_polars().columns, repr(sub.frame_view("polars")))
        client.close()
        """,
    )
    assert out.strip() == ("['id'] <FrameView (polars) of <GroupSubscription todo/inbox waiting>>")


def test_the_library_imports_neither_until_asked() -> None:
    code = """
        import sys
        from motia_client import StreamClient

        client = StreamClient("ws://127.0.0.1:9/")
        sub = client.subscribe_group("todo", "inbox")
        repr(sub), sub.state
        print(sorted(m for m in ("pandas", "polars", "numpy") if m in sys.modules))
        sub.to_pandas()
        print(sorted(m for m in ("pandas", "polars") if m in sys.modules))
        client.close()
        """
    assert run_blocked((), code).splitlines() == ["[]", "['pandas']"]
