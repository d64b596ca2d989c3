"""End to end: examples/watch_todos.ipynb runs in a real kernel against the reference server.

The notebook is executed by nbclient in an ipykernel running this project's
interpreter (``sys.executable``, through a kernelspec written to a temporary
``JUPYTER_PATH``, so no installed kernelspec is needed or used). The server
runs in a thread of the test process; the notebook finds it through
``MOTIA_WS_URL`` and ``MOTIA_HTTP_URL``. nbclient shuts the kernel down when
the run ends, failed or not.

What is asserted is what a reader sees: the group table and the group's
DataFrame view, displayed before any todo existed, were updated in place to
list the todos created over HTTP (and the completion), ``to_pandas()`` gave the
todos in order, the item card followed its todo, and the displays end on the
closed state.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from server_stub import StubServer

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "watch_todos.ipynb"
DESCRIPTIONS = ["Buy milk", "Write the report", "Water the plants"]


def kernelspec(root: Path) -> str:
    """Write a kernelspec for this interpreter under ``root``; return its name."""
    spec = root / "kernels" / "motia-client-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "motia-client test", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel), encoding="utf-8")
    return spec.name


def outputs(cell: Any, kind: str) -> list[dict[str, Any]]:
    return [dict(out) for out in cell.outputs if out.output_type == kind]


def code_cell(nb: Any, containing: str, *, exact: bool = False) -> Any:
    found = [
        c
        for c in nb.cells
        if c.cell_type == "code" and (c.source == containing if exact else containing in c.source)
    ]
    assert len(found) == 1, f"expected one code cell with {containing!r}"
    return found[0]


@pytest.mark.timeout(90)
def test_watch_todos_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    name = kernelspec(tmp_path)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not getattr(c, "outputs", None) for c in nb.cells), "commit the notebook unexecuted"
    with StubServer(host="127.0.0.1", port=0).in_thread() as stub:
        monkeypatch.setenv("MOTIA_WS_URL", stub.ws_url)
        monkeypatch.setenv("MOTIA_HTTP_URL", stub.http_url)
        table_cell = nb.cells.index(code_cell(nb, "subscribe_group"))
        frame_cell = nb.cells.index(code_cell(nb, "todos.frame_view()", exact=True))
        seen: dict[int, str] = {}  # the table's text right after each cell ran
        seen_frame: dict[int, str] = {}  # and the DataFrame view's

        def snapshot(cell: Any, cell_index: int, **_: Any) -> None:
            for index, into in ((table_cell, seen), (frame_cell, seen_frame)):
                shown = outputs(nb.cells[index], "display_data")
                if shown:
                    into[cell_index] = shown[0]["data"]["text/plain"]

        runner = NotebookClient(
            nb,
            kernel_name=name,
            timeout=30,
            startup_timeout=60,
            resources={"metadata": {"path": str(tmp_path)}},
            on_cell_executed=snapshot,
        )
        runner.execute()  # raises CellExecutionError, with the traceback, if a cell fails
        todos = stub.run(stub.store.list_group("todo", "inbox"))
    assert sorted(t["description"] for t in todos) == sorted(DESCRIPTIONS)

    # The table was shown after the first sync, with no todos, then updated in place while
    # the connection was still open: by the end of the cell that created the todos it
    # listed them all, and by the end of the one that completed a todo it had completedAt.
    assert seen[table_cell].startswith("todo/inbox · 0 items · open")
    create_cell = nb.cells.index(code_cell(nb, 'http.call("POST", "/todo"'))
    complete_cell = nb.cells.index(code_cell(nb, "/complete"))
    assert seen[create_cell].startswith("todo/inbox · 3 items · open")
    assert all(description in seen[create_cell] for description in DESCRIPTIONS)
    assert "completedAt" not in seen[create_cell]
    assert "completedAt" in seen[complete_cell]
    [table] = outputs(code_cell(nb, "subscribe_group"), "display_data")
    text, page = table["data"]["text/plain"], table["data"]["text/html"]
    assert text.startswith("todo/inbox · 3 items · closed")
    for description in DESCRIPTIONS:
        assert description in text
        assert f"<td>{description}</td>" in page
    assert "completedAt" in text.splitlines()[1]  # the completion reached the table too

    # The DataFrame view followed the group the same way, one row per todo, in order.
    assert seen_frame[frame_cell].startswith("todo/inbox · 0 items · open")
    assert seen_frame[create_cell].startswith("todo/inbox · 3 items · open")
    positions = [seen_frame[create_cell].index(description) for description in DESCRIPTIONS]
    assert positions == sorted(positions)  # sort_key="createdAt": the order they were made
    assert "completedAt" in seen_frame[complete_cell]
    [frame] = outputs(code_cell(nb, "todos.frame_view()", exact=True), "display_data")
    assert frame["data"]["text/plain"].startswith("todo/inbox · 3 items · closed")
    assert 'class="dataframe"' in frame["data"]["text/html"]  # pandas' own table
    assert "<td>Buy milk</td>" in frame["data"]["text/html"]

    # to_pandas(): the todos in order, indexed by id; only the first one is completed.
    [pandas_out] = outputs(code_cell(nb, "todos.to_pandas()"), "execute_result")
    lines = pandas_out["data"]["text/plain"].splitlines()
    assert lines[0].split() == ["description", "completedAt"]
    assert lines[1].split() == ["id"]
    ids = {t["description"]: t["id"] for t in todos}
    rows = lines[2:]
    assert [row.split()[0] for row in rows] == [ids[description] for description in DESCRIPTIONS]
    completed = [bool(re.search(r"\d{4}-\d\d-\d\dT", row)) for row in rows]
    assert completed == [True, False, False]
    assert "<table" in pandas_out["data"]["text/html"]

    # The item card followed the first todo to its completion.
    [card] = outputs(code_cell(nb, "use_stream_item(client"), "display_data")
    card_text = card["data"]["text/plain"]
    assert "Buy milk" in card_text
    assert "completedAt" in card_text
    assert "Write the report" not in card_text

    created = outputs(code_cell(nb, 'http.call("POST", "/todo"'), "execute_result")
    assert created[0]["data"]["text/plain"] == repr(DESCRIPTIONS)
    states = outputs(code_cell(nb, "/complete"), "execute_result")
    assert "('Buy milk', 'done')" in states[0]["data"]["text/plain"]
    pairs = outputs(code_cell(nb, "ops.take(1)"), "execute_result")
    assert pairs[0]["data"]["text/plain"] == "['3 todos, connected=True']"
    [connection] = outputs(code_cell(nb, "use_motia_stream(client)", exact=True), "display_data")
    assert connection["data"]["text/plain"] == "connection · closed"
