"""A scratch PostgreSQL server: Debian's ``initdb`` + ``pg_ctl`` in a temporary folder, on a
free port, gone when the ``with`` block ends. For tests and benchmarks (asl-py's
test_optuna.py, benches/optuna_scaling.py); a deployment points at its own database.

    with pg_scratch.server(databases=["optuna"]) as url:   # postgresql://asl@127.0.0.1:PORT
        ...
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator


def bin_dir() -> Path | None:
    """Where PostgreSQL's server tools are (PATH, else Debian's /usr/lib/postgresql/N/bin)."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(Path(d).parent.name) if Path(d).parent.name.isdigit() else 0)
    return Path(dirs[-1]) if dirs else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server(databases: list[str] = ()) -> Iterator[str]:
    """Start a server with these (empty) databases; yields ``postgresql://asl@127.0.0.1:PORT``
    (append ``/name``). Raises FileNotFoundError when PostgreSQL is not installed."""
    tools = bin_dir()
    if tools is None:
        raise FileNotFoundError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    # Straight under /tmp: when we are root the server runs as `postgres`, which must reach it.
    root = Path(tempfile.mkdtemp(prefix="asl-postgres-"))
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(root, "postgres")
    data, port = root / "data", _free_port()
    try:
        subprocess.run([*as_user, tools / "initdb", "-D", data, "-U", "asl", "--auth=trust", "-E", "UTF8"], check=True, capture_output=True)
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
        subprocess.run([*as_user, tools / "pg_ctl", "-D", data, "-l", root / "server.log", "-w", "-o", options, "start"], check=True, capture_output=True)
        try:
            for name in databases:
                subprocess.run([tools / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "asl", name], check=True, capture_output=True)
            yield f"postgresql://asl@127.0.0.1:{port}"
        finally:
            subprocess.run([*as_user, tools / "pg_ctl", "-D", data, "-m", "fast", "stop"], capture_output=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
