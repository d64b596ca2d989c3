"""Install the official clients the benchmarks compare against into ``benchmarks/.peers/``.

* ``.peers/py``: the official Python client, PyPI ``motia==1.0.4rc1``, installed with
  ``--no-deps`` (its ``stream_client`` module only needs ``websockets``; the package's
  ``__init__`` needs the iii engine SDK, so runners load ``stream_client.py`` by path).
* ``.peers/node``: the official Node client ``@motiadev/stream-client-node``, with
  ``--ignore-scripts``, only where ``node`` and ``npm`` exist.

Idempotent: an installed peer of the right version is detected from its metadata and
left alone, so a second run takes milliseconds. ``python -m benchmarks.setup_peers``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PEERS_DIR = Path(__file__).resolve().parent / ".peers"
PY_DIR = PEERS_DIR / "py"
NODE_DIR = PEERS_DIR / "node"

PY_PACKAGE = "motia"
PY_VERSION = "1.0.4rc1"
NODE_PACKAGE = "@motiadev/stream-client-node"
NODE_VERSION = "0.17.6-beta.187"

#: The official Python client's module, loaded by path (see ``runners/official_py.py``).
PY_STREAM_CLIENT = PY_DIR / "motia" / "stream_client.py"
NODE_PACKAGE_JSON = NODE_DIR / "node_modules" / "@motiadev" / "stream-client-node" / "package.json"

INSTALL_TIMEOUT_S = 300


@dataclass(frozen=True)
class PeerStatus:
    name: str
    ok: bool
    detail: str


def _py_installed() -> bool:
    dist_info = PY_DIR / f"{PY_PACKAGE}-{PY_VERSION}.dist-info"
    return PY_STREAM_CLIENT.is_file() and dist_info.is_dir()


def _node_installed() -> bool:
    try:
        meta = json.loads(NODE_PACKAGE_JSON.read_text())
    except (OSError, ValueError):
        return False
    return bool(meta.get("version") == NODE_VERSION)


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False
    )


def ensure_python_peer(*, quiet: bool = False) -> PeerStatus:
    name = f"{PY_PACKAGE}=={PY_VERSION}"
    if _py_installed():
        return PeerStatus(name, True, f"already in {PY_DIR}")
    if PY_DIR.exists():
        shutil.rmtree(PY_DIR)  # a stale or partial install: start clean
    cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
    cmd += ["--no-deps", "--target", str(PY_DIR), name]
    if not quiet:
        print(f"installing {name} into {PY_DIR} ...", flush=True)
    try:
        proc = _run(cmd)
    except subprocess.TimeoutExpired:
        return PeerStatus(name, False, f"pip timed out after {INSTALL_TIMEOUT_S} s")
    if proc.returncode != 0 or not _py_installed():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return PeerStatus(name, False, "pip failed: " + " | ".join(tail))
    return PeerStatus(name, True, f"installed in {PY_DIR}")


def ensure_node_peer(*, quiet: bool = False) -> PeerStatus:
    name = f"{NODE_PACKAGE}@{NODE_VERSION}"
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return PeerStatus(name, False, "skipped: node/npm not found on PATH")
    if _node_installed():
        return PeerStatus(name, True, f"already in {NODE_DIR}")
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    cmd = [npm, "install", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
    cmd += ["--prefix", str(NODE_DIR), name]
    if not quiet:
        print(f"installing {name} into {NODE_DIR} ...", flush=True)
    try:
        proc = _run(cmd)
    except subprocess.TimeoutExpired:
        return PeerStatus(name, False, f"npm timed out after {INSTALL_TIMEOUT_S} s")
    if proc.returncode != 0 or not _node_installed():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return PeerStatus(name, False, "npm failed: " + " | ".join(tail))
    return PeerStatus(name, True, f"installed in {NODE_DIR}")


def ensure_peers(*, quiet: bool = False) -> dict[str, PeerStatus]:
    """Install whatever is missing; never raises for a peer that cannot be installed."""
    return {
        "official_py": ensure_python_peer(quiet=quiet),
        "official_node": ensure_node_peer(quiet=quiet),
    }


def main() -> int:
    statuses = ensure_peers()
    for key, status in statuses.items():
        mark = "ok  " if status.ok else "SKIP"
        print(f"{mark} {key:<14} {status.name}: {status.detail}")
    return 0 if statuses["official_py"].ok else 1


if __name__ == "__main__":
    sys.exit(main())
