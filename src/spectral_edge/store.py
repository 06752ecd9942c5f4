"""The embedded run store: one SQLite file holding every run, its windows, metrics and events.

A *run* records what was asked for (configuration, seeds, every open definition chosen) and the
environment it ran in (library, Python, NumPy and torch versions, host), then grows three logs:
per-window spectral features, training metrics and events. Features and metrics are stored in long
form, one row per ``(run, step, name)``, so a window that is still filling up (fewer σ columns) or
a feature added later needs no schema change; the readers pivot them back to one row per step.

Durability: the file is in WAL mode with ``synchronous=NORMAL`` and every ``log_*`` call is its own
committed transaction, so a process killed at any point (even by SIGKILL) loses nothing that a
call had already returned from, and other processes can read the store while a run is writing.
(``NORMAL`` keeps commits safe from process crashes; only a power cut can lose the last ones.)

Values: features and metrics are floats, except the window features that are names
(:data:`~spectral_edge.core.features.TEXT_FEATURES`: the regime), stored as text, so that a
stored window row has the monitor's columns. SQLite stores NaN as NULL, so NULL reads back as NaN
(``None`` is accepted as "not computed" and reads back as NaN too); ±inf is stored as is.
Logging the same ``(step, name)`` twice keeps the last value, which makes re-logging after a resume
harmless. JSON fields (config, seeds, definitions, event evidence) accept NumPy scalars and
arrays, tuples and sets (read back as lists), paths (read back as strings) and anything with
``tolist()`` such as tensors.
"""

from __future__ import annotations

import csv
import importlib.metadata
import json
import math
import operator
import os
import platform
import re
import sqlite3
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spectral_edge._version import __version__
from spectral_edge.core.features import TEXT_FEATURES
from spectral_edge.core.spectrum import INTEGER_FEATURES
from spectral_edge.errors import SpectralEdgeError
from spectral_edge.lifecycle import effective_status, writer

__all__ = [
    "DEFAULT_FILENAME",
    "SCHEMA_VERSION",
    "Run",
    "RunStore",
    "integer_columns",
    "open_store",
]

DEFAULT_FILENAME = "spectral_edge.sqlite"
SCHEMA_VERSION = 1
_FILE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
_EXPORT_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
EXPORT_PARTS = ("windows", "metrics", "events")

# Version 1. A future version N adds _MIGRATIONS[N], the SQL that upgrades a version N - 1 store.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL,
    library_version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: a deleted run's id is never reused
    name TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    finished_at TEXT,
    version TEXT NOT NULL,
    environment TEXT NOT NULL,
    config TEXT NOT NULL,
    seeds TEXT NOT NULL,
    definitions TEXT NOT NULL
);
-- The primary key (run_id, step, name) is also the index on (run_id, step) the readers use.
CREATE TABLE IF NOT EXISTS windows (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    name TEXT NOT NULL,
    value REAL,
    PRIMARY KEY (run_id, step, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS metrics (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    name TEXT NOT NULL,
    value REAL,
    PRIMARY KEY (run_id, step, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    evidence TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_run_step ON events (run_id, step);
"""
_MIGRATIONS: dict[int, str] = {}


def open_store(path: str | os.PathLike[str], *, read_only: bool = False) -> RunStore:
    """Open (creating if needed) the run store at ``path``.

    ``path`` is a ``.sqlite``/``.sqlite3``/``.db`` file or a directory, which then holds
    ``spectral_edge.sqlite``; missing parent directories are created. An existing file is opened
    whatever its suffix. The store is a context manager that closes itself.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp, open_store(tmp) as store:
    ...     run = store.create_run("demo", config={"window": 10}, seeds={"torch": 0})
    ...     run.log_window(1, {"sigma_1": 3.0, "sigma_2": 1.0})
    ...     run.log_window(2, {"sigma_1": 4.0, "sigma_2": 2.0, "sigma_3": float("nan")})
    ...     run.log_metrics(2, {"loss": 0.5})
    ...     run.finish()
    ...     print(store.run("demo").windows())
    ...     print(store.runs()[["name", "status", "n_windows", "last_step"]])
       step  sigma_1  sigma_2  sigma_3
    0     1      3.0      1.0      NaN
    1     2      4.0      2.0      NaN
       name    status  n_windows  last_step
    0  demo  finished          2          2
    """
    return RunStore(path, read_only=read_only)


class RunStore:
    """A connection to one store file; see :func:`open_store`.

    One SQLite connection per store, shared between threads under a lock. Open a separate
    ``RunStore`` in each process (a connection must not cross ``fork``).
    """

    def __init__(self, path: str | os.PathLike[str], read_only: bool = False) -> None:
        self.read_only = bool(read_only)
        self.path = _resolve_path(Path(path), create=not self.read_only)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        with self._translate("open the store"):
            if self.read_only:
                if not self.path.is_file():
                    raise SpectralEdgeError(f"no run store at {self.path} to open read-only")
                target, uri = self.path.resolve().as_uri() + "?mode=ro", True
            else:
                target, uri = str(self.path), False
            self._conn = sqlite3.connect(
                target, uri=uri, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            try:
                self._conn.execute("PRAGMA foreign_keys = ON")
                if not self.read_only:
                    self._conn.execute("PRAGMA journal_mode = WAL")
                    self._conn.execute("PRAGMA synchronous = NORMAL")
                self._check_schema()
            except BaseException:
                self._conn.close()
                self._conn = None
                raise

    # -- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection; further use raises. Closing twice is harmless."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "read-write"
        state = "closed" if self._conn is None else mode
        return f"RunStore({str(self.path)!r}, {state})"

    # -- runs -----------------------------------------------------------------------------------

    def create_run(
        self,
        name: str | None = None,
        *,
        config: Mapping[str, Any],
        seeds: Mapping[str, Any] | None = None,
        definitions: Mapping[str, Any] | None = None,
        overwrite: bool = False,
    ) -> Run:
        """Start a run with status ``"running"`` and record what it is and where it runs.

        ``name`` must be unique in the store; None picks ``run-YYYYmmdd-HHMMSS`` (UTC, with a
        ``-2``, ``-3``... suffix if taken). An existing name is an error unless ``overwrite``,
        which deletes the old run and everything it logged in the same transaction.
        """
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise SpectralEdgeError(f"run name must be a non-empty string, got {name!r}")
        if name is not None:
            _text(name, "run name")
        fields = {
            "config": _to_json(_require_mapping(config, "config"), "config"),
            "seeds": _to_json(_require_mapping(seeds or {}, "seeds"), "seeds"),
            "definitions": _to_json(
                _require_mapping(definitions or {}, "definitions"), "definitions"
            ),
        }
        now = datetime.now(timezone.utc)
        with self._transaction(f"create run {name!r}") as conn:
            if name is None:
                name = _free_name(conn, "run-" + now.strftime("%Y%m%d-%H%M%S"))
            old = conn.execute("SELECT id FROM runs WHERE name = ?", (name,)).fetchone()
            if old is not None and not overwrite:
                raise SpectralEdgeError(
                    f"a run named {name!r} already exists in {self.path}; choose another name, "
                    "pass overwrite=True to replace it (SpectralMonitor and create_run take it; "
                    "SpectralMonitor also resume=True to continue it), or delete it first: "
                    f"spectral-edge runs {self.path.parent} --delete {name}"
                )
            if old is not None:
                _delete_rows(conn, old[0])
            cursor = conn.execute(
                "INSERT INTO runs (name, status, created_at, version, environment, config, seeds,"
                " definitions) VALUES (?, 'running', ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    now.isoformat(timespec="seconds"),
                    __version__,
                    json.dumps(_environment()),
                    fields["config"],
                    fields["seeds"],
                    fields["definitions"],
                ),
            )
            run_id = int(cursor.lastrowid)
        return Run(self, run_id, name)

    def run(self, name_or_id: str | int) -> Run:
        """The run with this name (str) or id (int); an error lists the runs there are.

        A string of digits that is no run's name is read as an id, so that a command line's
        ``RUN`` argument takes names and ids alike (a run named ``"7"`` wins over id 7).
        """
        by_id = "SELECT id, name FROM runs WHERE id = ?"
        if isinstance(name_or_id, str):
            key = _text(name_or_id, "run name")
            row = self._query("SELECT id, name FROM runs WHERE name = ?", (key,), "look up a run")
            if not row and key.strip().isdigit():
                row = self._query(by_id, (int(key),), "look up a run")
        elif isinstance(name_or_id, bool) or not isinstance(name_or_id, (int, np.integer)):
            raise SpectralEdgeError(f"a run is named by a str or an int id, got {name_or_id!r}")
        else:
            row = self._query(by_id, (int(name_or_id),), "look up a run")
        if not row:
            names = [r[0] for r in self._query("SELECT name FROM runs ORDER BY id", (), "list")]
            shown = ", ".join(repr(n) for n in names[:20]) or "none"
            more = f" and {len(names) - 20} more" if len(names) > 20 else ""
            raise SpectralEdgeError(
                f"no run {name_or_id!r} in {self.path}; runs available: {shown}{more}"
            )
        return Run(self, int(row[0][0]), row[0][1])

    def runs(self) -> pd.DataFrame:
        """One row per run: id, name, status, created_at, n_windows, last_step, version.

        ``status`` is the one readers should believe: a ``running`` run whose writing process is
        gone reads ``interrupted`` (see :mod:`spectral_edge.lifecycle`).
        """
        rows = self._query(
            """
            SELECT r.id, r.name, r.status, r.environment, r.created_at,
                   (SELECT COUNT(DISTINCT step) FROM windows WHERE run_id = r.id),
                   (SELECT MAX(s) FROM (
                        SELECT MAX(step) AS s FROM windows WHERE run_id = r.id
                        UNION ALL SELECT MAX(step) FROM metrics WHERE run_id = r.id
                        UNION ALL SELECT MAX(step) FROM events WHERE run_id = r.id)),
                   r.version
            FROM runs AS r ORDER BY r.id
            """,
            (),
            "list runs",
        )
        # The status shown: a "running" run whose writer died reads "interrupted" (lifecycle).
        rows = [(i, n, effective_status(s, json.loads(env)), *rest) for i, n, s, env, *rest in rows]
        columns = ["id", "name", "status", "created_at", "n_windows", "last_step", "version"]
        frame = pd.DataFrame(rows, columns=columns)
        # Nullable int: a run that logged nothing has no last step, and NaN would make it float.
        return frame.astype({"id": "int64", "n_windows": "int64", "last_step": "Int64"})

    def delete_run(self, name_or_id: str | int) -> None:
        """Delete a run and everything it logged (one transaction)."""
        run = self.run(name_or_id)
        with self._transaction(f"delete run {run.name!r}") as conn:
            _delete_rows(conn, run.id)

    def empty_runs(self) -> list[str]:
        """Names of the runs that hold no window and are not being written: what
        :meth:`prune` deletes. A stored table (a run whose config holds ``predictions``, as
        ``spectral-edge reproduce`` writes) is not empty."""
        table = self.runs()
        idle = table[(table["n_windows"] == 0) & (table["status"] != "running")]
        return [n for n in idle["name"] if "predictions" not in self.run(n).config]

    def prune(self) -> list[str]:
        """Delete every run of :meth:`empty_runs`; returns their names."""
        names = self.empty_runs()
        for name in names:
            self.delete_run(name)
        return names

    # -- plumbing shared with Run ---------------------------------------------------------------

    @contextmanager
    def _translate(self, action: str) -> Iterator[None]:
        """Turn SQLite's errors into SpectralEdgeError naming the file, the action and a remedy."""
        try:
            yield
        except sqlite3.Error as exc:
            text = str(exc)
            hint = ""
            if "readonly" in text or "unable to open" in text:
                hint = (
                    "; the file or its directory is missing or not writable,"
                    " or the store was opened read-only"
                )
            elif "full" in text:
                hint = "; the disk (or the store's size limit) is full: free space and retry"
            elif "locked" in text or "busy" in text:
                hint = "; another process held the write lock for more than 30 s"
            elif "not a database" in text:
                hint = "; the file is not a spectral-edge store"
            elif "FOREIGN KEY" in text:
                hint = "; the run was deleted or overwritten, so this Run handle is stale"
            raise SpectralEdgeError(
                f"run store {self.path}: cannot {action}: {text}{hint}"
            ) from exc
        except OSError as exc:
            raise SpectralEdgeError(f"run store {self.path}: cannot {action}: {exc}") from exc

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise SpectralEdgeError(f"run store {self.path} is closed; open it again")
        return self._conn

    @contextmanager
    def _transaction(self, action: str) -> Iterator[sqlite3.Connection]:
        """One committed write transaction; IMMEDIATE takes the write lock up front."""
        if self.read_only:
            raise SpectralEdgeError(
                f"run store {self.path} was opened read-only; cannot {action}. "
                "Open it with read_only=False to write."
            )
        with self._lock, self._translate(action):
            conn = self._connection()
            if conn.in_transaction:
                # Re-entered on this thread (a finalizer run by the garbage collector in the
                # middle of a write): refuse, leaving the transaction under way untouched.
                raise SpectralEdgeError(
                    f"run store {self.path}: cannot {action} inside another write of this thread"
                )
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                # SQLite may already have rolled back by itself (e.g. on a full disk).
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _query(self, sql: str, params: tuple[Any, ...], action: str) -> list[tuple[Any, ...]]:
        with self._lock, self._translate(action):
            return self._connection().execute(sql, params).fetchall()

    def _check_schema(self) -> None:
        with self._lock, self._translate("read the schema version"):
            current = _schema_version(self._connection())
        if current == SCHEMA_VERSION:
            return
        if current is not None and current > SCHEMA_VERSION:
            raise SpectralEdgeError(
                f"run store {self.path} has schema version {current}, newer than this "
                f"spectral-edge {__version__} understands ({SCHEMA_VERSION}); upgrade spectral-edge"
            )
        if self.read_only:
            if current is None:
                raise SpectralEdgeError(f"{self.path} is not a spectral-edge store (no schema)")
            raise SpectralEdgeError(
                f"run store {self.path} needs a schema upgrade; open it once with read_only=False"
            )
        with self._transaction("initialise the schema") as conn:
            # Asked again under the write lock: another process may have just done it.
            current = _schema_version(conn)
            if current is None:
                _execute_script(conn, _SCHEMA)
                current = SCHEMA_VERSION
                _record_version(conn, current)
            while current < SCHEMA_VERSION:
                _execute_script(conn, _MIGRATIONS[current + 1])
                current += 1
                _record_version(conn, current)


class Run:
    """A handle on one run in a store; get it from :meth:`RunStore.create_run` or ``.run()``.

    The handle keeps only the id and name: every property and reader asks the store, so a reader
    in another process sees what the writer committed. As a context manager it finishes the run
    on a clean exit and marks it ``"failed"`` (``"interrupted"`` on Ctrl-C) otherwise.
    """

    def __init__(self, store: RunStore, run_id: int, name: str) -> None:
        self.store = store
        self.id = run_id
        self.name = name

    def __repr__(self) -> str:
        return f"Run(id={self.id}, name={self.name!r}, store={str(self.store.path)!r})"

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is None:
            self.finish()
            return
        try:
            self.set_status("interrupted" if exc_type is KeyboardInterrupt else "failed")
        except SpectralEdgeError:
            pass  # the exception already on its way out says more than a failed status update

    # -- metadata -------------------------------------------------------------------------------

    @property
    def info(self) -> dict[str, Any]:
        """All that is recorded about the run: identity, status, versions, host, JSON fields.

        ``status`` is the effective one: ``interrupted`` for a ``running`` run whose writing
        process is gone (:mod:`spectral_edge.lifecycle`).
        """
        rows = self.store._query(
            "SELECT id, name, status, created_at, finished_at, version, environment, config,"
            " seeds, definitions FROM runs WHERE id = ?",
            (self.id,),
            f"read run {self.name!r}",
        )
        if not rows:
            raise SpectralEdgeError(
                f"run {self.name!r} (id {self.id}) no longer exists in {self.store.path}"
            )
        rid, name, status, created, finished, version, env, config, seeds, defs = rows[0]
        environment = json.loads(env)
        return {
            "id": rid,
            "name": name,
            "status": effective_status(status, environment),
            "created_at": created,
            "finished_at": finished,
            "version": version,
            **environment,
            "config": json.loads(config),
            "seeds": json.loads(seeds),
            "definitions": json.loads(defs),
        }

    @property
    def config(self) -> dict[str, Any]:
        return self.info["config"]

    @property
    def seeds(self) -> dict[str, Any]:
        return self.info["seeds"]

    @property
    def definitions(self) -> dict[str, Any]:
        return self.info["definitions"]

    @property
    def status(self) -> str:
        return self.info["status"]

    def set_status(self, status: str) -> None:
        """Set the status (``running``, ``finished``, ``failed``... any non-empty string).

        ``finished_at`` records when the run last left ``"running"``; going back to ``"running"``
        (a resume) clears it and records this process as the run's writer, so readers check
        the new process, not the one that died (:mod:`spectral_edge.lifecycle`).
        """
        if not isinstance(status, str) or not status.strip():
            raise SpectralEdgeError(f"status must be a non-empty string, got {status!r}")
        _text(status, "status")
        finished = None if status == "running" else _now()
        with self.store._transaction(f"set the status of run {self.name!r}") as conn:
            row = conn.execute("SELECT environment FROM runs WHERE id = ?", (self.id,)).fetchone()
            if row is None:
                raise SpectralEdgeError(f"run {self.name!r} no longer exists in {self.store.path}")
            environment = json.loads(row[0])
            if status == "running":
                environment.update(writer())
            conn.execute(
                "UPDATE runs SET status = ?, finished_at = ?, environment = ? WHERE id = ?",
                (status, finished, json.dumps(environment), self.id),
            )

    def finish(self, status: str = "finished") -> None:
        """Mark the run done; same as ``set_status(status)``."""
        self.set_status(status)

    def update_config(self, updates: Mapping[str, Any], *, replace: bool = False) -> None:
        """Add keys to the recorded config (e.g. what a resume changed).

        Changing the value of an existing key is refused unless ``replace=True``: the config is
        the record of what the run was, so rewriting it should be deliberate.
        """
        added = json.loads(_to_json(_require_mapping(updates, "updates"), "updates"))
        with self.store._transaction(f"update the config of run {self.name!r}") as conn:
            row = conn.execute("SELECT config FROM runs WHERE id = ?", (self.id,)).fetchone()
            if row is None:
                raise SpectralEdgeError(f"run {self.name!r} no longer exists in {self.store.path}")
            config = json.loads(row[0])
            changed = [k for k in added if k in config and config[k] != added[k]]
            if changed and not replace:
                raise SpectralEdgeError(
                    f"update_config would change existing config keys {changed} of run "
                    f"{self.name!r}; pass replace=True to overwrite them"
                )
            config.update(added)
            conn.execute("UPDATE runs SET config = ? WHERE id = ?", (_to_json(config, ""), self.id))

    # -- logging --------------------------------------------------------------------------------

    def log_window(self, step: int, features: Mapping[str, Any]) -> None:
        """Record one window's features (name -> float) at ``step``; one committed transaction."""
        self._log("windows", [(step, features)])

    def log_windows(self, rows: Iterable[Any]) -> None:
        """Record many windows in one transaction.

        Each row is a ``(step, features)`` pair or a mapping with a ``"step"`` key beside the
        features; a DataFrame shaped like :meth:`windows` is taken row by row, so
        ``run.log_windows(other.windows())`` copies a run's windows.
        """
        if isinstance(rows, pd.DataFrame):
            rows = rows.to_dict("records")
        pairs = []
        for row in rows:
            if isinstance(row, Mapping) and "step" in row:
                pairs.append((row["step"], {k: v for k, v in row.items() if k != "step"}))
            elif not isinstance(row, Mapping) and isinstance(row, (tuple, list)) and len(row) == 2:
                pairs.append((row[0], row[1]))
            else:
                raise SpectralEdgeError(
                    "each window row must be a (step, features) pair or a mapping with a "
                    f"'step' key, got {row!r:.80}"
                )
        self._log("windows", pairs)

    def log_metrics(self, step: int, metrics: Mapping[str, Any]) -> None:
        """Record training metrics (loss, accuracy, lr, anything: name -> float) at ``step``."""
        self._log("metrics", [(step, metrics)])

    def log_event(
        self,
        step: int,
        kind: str,
        message: str = "",
        evidence: Mapping[str, Any] | None = None,
    ) -> None:
        """Record an event (e.g. ``"grok"``, ``"nonfinite_update"``) with JSON evidence."""
        step = _step(step)
        if not isinstance(kind, str) or not kind:
            raise SpectralEdgeError(f"event kind must be a non-empty string, got {kind!r}")
        if not isinstance(message, str):
            raise SpectralEdgeError(f"event message must be a string, got {message!r}")
        _text(kind, "event kind")
        _text(message, "event message")
        payload = _to_json(_require_mapping(evidence or {}, "evidence"), "evidence")
        with self.store._transaction(f"log an event of run {self.name!r}") as conn:
            conn.execute(
                "INSERT INTO events (run_id, step, kind, message, evidence) VALUES (?, ?, ?, ?, ?)",
                (self.id, step, kind, message, payload),
            )

    def _log(self, table: str, pairs: list[tuple[Any, Mapping[str, Any]]]) -> None:
        # Validate everything before the transaction so a bad row writes nothing.
        texts = TEXT_FEATURES if table == "windows" else ()
        values = []
        for step, named in pairs:
            step = _step(step)
            if not isinstance(named, Mapping):
                raise SpectralEdgeError(f"{table} at step {step} must be a dict of name -> float")
            values.extend(
                (self.id, step, _name(n, table), _value(v, n, table, text=texts))
                for n, v in named.items()
            )
        with self.store._transaction(f"log {table} of run {self.name!r}") as conn:
            conn.executemany(
                f"INSERT OR REPLACE INTO {table} (run_id, step, name, value) VALUES (?, ?, ?, ?)",
                values,
            )

    # -- reading --------------------------------------------------------------------------------

    def windows(self, since: int | None = None) -> pd.DataFrame:
        """Window features, wide: a ``step`` column, then one column per feature name.

        Sorted by step; feature columns in natural order (``sigma_2`` before ``sigma_10``); a
        feature a window did not log is NaN there. Features are floats except the integer ones
        (``w``, ``k_star`` and its variants), which come back as ints. ``since``: only the
        steps ≥ since (a reader following a run re-reads from the last step it saw, since a
        step's rows may still be growing; see :mod:`spectral_edge.watch`).
        """
        return integer_columns(self._wide("windows", since))

    def metrics(self, since: int | None = None) -> pd.DataFrame:
        """Training metrics, wide like :meth:`windows` (``since`` likewise)."""
        return self._wide("metrics", since)

    def events(self, since: int | None = None) -> pd.DataFrame:
        """Events in order: columns step, kind, message, evidence (a dict); ``since``: only
        the steps ≥ since."""
        rows = self.store._query(
            "SELECT step, kind, message, evidence FROM events WHERE run_id = ? AND step >= ?"
            " ORDER BY step, id",
            (self.id, _since(since)),
            f"read events of run {self.name!r}",
        )
        return pd.DataFrame(
            {
                "step": np.array([r[0] for r in rows], dtype=np.int64),
                "kind": pd.Series([r[1] for r in rows], dtype=object),
                "message": pd.Series([r[2] for r in rows], dtype=object),
                "evidence": pd.Series([json.loads(r[3]) for r in rows], dtype=object),
            }
        )

    def _wide(self, table: str, since: int | None = None) -> pd.DataFrame:
        rows = self.store._query(
            f"SELECT step, name, value FROM {table} WHERE run_id = ? AND step >= ? ORDER BY step",
            (self.id, _since(since)),
            f"read {table} of run {self.name!r}",
        )
        if not rows:
            return pd.DataFrame({"step": np.array([], dtype=np.int64)})
        texts = [r for r in rows if r[1] in TEXT_FEATURES] if table == "windows" else []
        if texts:
            rows = [r for r in rows if r[1] not in TEXT_FEATURES]
        long = pd.DataFrame(
            {
                "step": np.array([r[0] for r in rows], dtype=np.int64),
                "name": pd.Series([r[1] for r in rows], dtype=object),
                # NULL is how SQLite keeps NaN.
                "value": np.array([np.nan if r[2] is None else r[2] for r in rows], dtype=float),
            }
        )
        wide = long.pivot(index="step", columns="name", values="value")
        for name in sorted({r[1] for r in texts}):
            named = {r[0]: (np.nan if r[2] is None else r[2]) for r in texts if r[1] == name}
            wide[name] = pd.Series(named, dtype=object).reindex(wide.index)
        wide = wide[sorted(wide.columns, key=_natural_key)]
        wide.columns = pd.Index(list(wide.columns), dtype=object)
        return wide.reset_index()

    # -- export ---------------------------------------------------------------------------------

    def export(
        self, path: str | os.PathLike[str], format: str | None = None, part: str | None = None
    ) -> dict[str, Path]:
        """Write the run's tables; returns ``{part: file written}``.

        A run is four things, so by default this writes a *set* of four files: windows, metrics,
        events and the run's info (config, seeds, definitions, environment) as JSON. ``path``
        ending in ``.csv`` or ``.parquet`` (``.pq``) is then a prefix: ``out/exp.csv`` writes
        ``out/exp_windows.csv``, ``out/exp_metrics.csv``, ``out/exp_events.csv`` and
        ``out/exp_run.json``. Any other path is a directory (created if needed) that receives
        ``<run name>_windows.csv`` and so on; ``format`` (``"csv"`` or ``"parquet"``) is then
        required.

        ``part="windows"`` (or ``"metrics"``, ``"events"``) writes that one table to exactly
        ``path``, a file ending in ``.csv`` or ``.parquet``.

        Event evidence is written as a JSON string. Parquet needs pyarrow.
        """
        path = Path(path)
        inferred = _EXPORT_FORMATS.get(path.suffix.lower())
        fmt = format if format is not None else inferred
        if part is not None and part not in EXPORT_PARTS:
            raise SpectralEdgeError(
                f"cannot export part {part!r} of run {self.name!r}: choose one of "
                f"{', '.join(EXPORT_PARTS)} (or none, for all of them and the run's info)"
            )
        if part is not None and inferred is None:
            raise SpectralEdgeError(
                f"exporting the {part} of run {self.name!r} writes one file: give a path ending "
                f"in .csv or .parquet, not {str(path)!r}"
            )
        if fmt not in ("csv", "parquet"):
            given = f"format {format!r}" if format is not None else f"the suffix of {str(path)!r}"
            raise SpectralEdgeError(
                f"cannot export run {self.name!r} with {given}: use a path ending in .csv or "
                ".parquet, or pass format='csv' or format='parquet'"
            )
        if inferred is not None and inferred != fmt:
            raise SpectralEdgeError(f"export path {str(path)!r} does not match format={fmt!r}")
        if fmt == "parquet":
            try:
                import pyarrow  # noqa: F401  (only to fail early with a clear message)
            except ImportError as exc:
                raise SpectralEdgeError(
                    "Parquet export needs pyarrow: pip install spectral-edge[parquet] "
                    "(or export to .csv)"
                ) from exc
        if inferred is not None:
            directory, prefix = path.parent, path.stem + "_"
        else:
            directory, prefix = path, re.sub(r"[^\w.-]", "_", self.name) + "_"
        parts = EXPORT_PARTS if part is None else (part,)
        written = {}
        try:
            directory.mkdir(parents=True, exist_ok=True)
            for name in parts:
                target = path if part is not None else directory / f"{prefix}{name}.{fmt}"
                written[name] = target
                frame = self._table(name)
                if fmt == "csv":
                    # Quote every string (names included): a name holding a lone '\r' was
                    # written bare and read back as a line break, shifting every column.
                    frame.to_csv(target, index=False, quoting=csv.QUOTE_NONNUMERIC)
                else:
                    frame.to_parquet(target, index=False)
            if part is None:
                written["run"] = directory / f"{prefix}run.json"
                written["run"].write_text(json.dumps(self.info, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise SpectralEdgeError(
                f"cannot export run {self.name!r} to {directory}: {exc}"
            ) from exc
        return written

    def _table(self, part: str) -> pd.DataFrame:
        if part == "events":
            events = self.events()
            events["evidence"] = [json.dumps(e) for e in events["evidence"]]
            return events
        return self.windows() if part == "windows" else self.metrics()


# -- helpers ------------------------------------------------------------------------------------


def integer_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the integer window features (``w``, ``k_star``, ...) as int64. The store
    keeps every value as a REAL, so they would otherwise read back as 2.0 instead of 2.

    A column with a missing or non-integral value (only a hand-written run has one) stays
    float: pandas' nullable integers would turn NaN into ``pd.NA`` in every row read from the
    frame, which ``np.isnan`` refuses.
    """
    for name in INTEGER_FEATURES:
        if name in frame.columns and pd.api.types.is_float_dtype(frame[name]):
            values = frame[name].to_numpy()
            exact = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 2**53)
            if np.all(exact):
                frame[name] = values.astype(np.int64)
    return frame


def _resolve_path(path: Path, create: bool) -> Path:
    path = path.expanduser()
    if path.is_dir() or (not path.exists() and path.suffix.lower() not in _FILE_SUFFIXES):
        directory, file = path, path / DEFAULT_FILENAME
    else:
        directory, file = path.parent, path
    if create:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpectralEdgeError(
                f"cannot create the run store {file}: its directory {directory} "
                f"cannot be made ({exc.strerror or exc})"
            ) from exc
    return file


def _schema_version(conn: sqlite3.Connection) -> int | None:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    return conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] if exists else None


def _execute_script(conn: sqlite3.Connection, script: str) -> None:
    # Not executescript(): it commits first, which would break the surrounding transaction.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _record_version(conn: sqlite3.Connection, version: int) -> None:
    conn.execute("INSERT INTO schema_version VALUES (?, ?, ?)", (version, _now(), __version__))


def _delete_rows(conn: sqlite3.Connection, run_id: int) -> None:
    for table in ("windows", "metrics", "events"):
        conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
    conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))


def _free_name(conn: sqlite3.Connection, base: str) -> str:
    name, n = base, 1
    while conn.execute("SELECT 1 FROM runs WHERE name = ?", (name,)).fetchone():
        n += 1
        name = f"{base}-{n}"
    return name


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "torch": _torch_version(),
        "platform": platform.platform(),
        **writer(),  # hostname, pid, pid_started: who writes the run (see lifecycle)
    }


def _torch_version() -> str | None:
    # Importing torch takes seconds; its installed metadata gives the same answer for free.
    torch = sys.modules.get("torch")
    if torch is not None:
        return str(torch.__version__)
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None


_INT64 = (-(2**63), 2**63 - 1)  # SQLite INTEGER


def _step(step: Any) -> int:
    if isinstance(step, bool):
        raise SpectralEdgeError(f"step must be an int, got {step!r}")
    try:
        value = operator.index(step)
    except TypeError:
        raise SpectralEdgeError(f"step must be an int, got {step!r}") from None
    if not _INT64[0] <= value <= _INT64[1]:
        raise SpectralEdgeError(f"step must fit in a signed 64-bit integer, got {value}")
    return value


def _since(since: Any) -> int:
    """The first step a reader asks for; every step when None (steps may be negative)."""
    return _INT64[0] if since is None else _step(since)


def _text(value: str, what: str) -> str:
    """``value`` if SQLite can store it: lone surrogates cannot be encoded as UTF-8."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SpectralEdgeError(
            f"{what} {value!r:.60} is not valid Unicode text ({exc.reason}); "
            "use a str without lone surrogates"
        ) from None
    return value


def _name(name: Any, table: str) -> str:
    if not isinstance(name, str) or not name or name == "step":
        raise SpectralEdgeError(
            f"{table} names must be non-empty strings other than 'step', got {name!r}"
        )
    return _text(name, f"{table} name")


def _value(value: Any, name: str, table: str, text: tuple = ()) -> float | str | None:
    if value is None:
        return None
    if name in text:
        if isinstance(value, str):
            return _text(value, f"{table} value {name!r}")
        if isinstance(value, float) and math.isnan(value):
            return None
        raise SpectralEdgeError(f"{table} value {name!r} must be a name, got {value!r:.80}")
    if isinstance(value, (str, bytes, complex, np.complexfloating)):
        raise SpectralEdgeError(f"{table} value {name!r} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise SpectralEdgeError(
            f"{table} value {name!r} must be a number (a real one that fits a float64), "
            f"got {value!r:.80}"
        ) from None
    return None if math.isnan(number) else number


def _natural_key(name: str) -> list[Any]:
    # Runs of decimal digits (what \d matches, the odd parts of the split) compare as numbers,
    # so sigma_2 sorts before sigma_10. str.isdigit() is also true for '²', which int() refuses.
    return [int(part) if i % 2 else part for i, part in enumerate(re.split(r"(\d+)", name))]


def _require_mapping(obj: Any, label: str) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise SpectralEdgeError(f"{label} must be a dict, got {type(obj).__name__}")
    return obj


def _to_json(obj: Any, label: str) -> str:
    try:
        return json.dumps(_jsonable(obj, label))
    except RecursionError:
        raise SpectralEdgeError(
            f"{label or 'the value'} nests too deeply or contains itself; "
            "it cannot be stored as JSON"
        ) from None


def _jsonable(obj: Any, where: str) -> Any:
    """Plain JSON types from config-like values; ``where`` names the culprit in the error."""
    if isinstance(obj, np.generic):
        return _jsonable(obj.item(), where)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, Mapping):
        out = {}
        for key, value in obj.items():
            if isinstance(key, np.generic):
                key = key.item()
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise SpectralEdgeError(
                    f"{where} has key {key!r}: JSON keys must be strings (ints become strings)"
                )
            if str(key) in out:
                raise SpectralEdgeError(
                    f"{where} has both {key!r} and {str(key)!r} as keys; JSON keys are strings, "
                    "so one would silently replace the other"
                )
            out[str(key)] = _jsonable(value, f"{where}[{key!r}]")
        return out
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, (set, frozenset)):
        items = [_jsonable(v, f"{where}{{...}}") for v in obj]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(obj, datetime):
        return obj.isoformat()
    if hasattr(obj, "tolist"):  # numpy arrays, torch tensors
        return _jsonable(obj.tolist(), where)
    raise SpectralEdgeError(
        f"{where} is a {type(obj).__name__} ({obj!r:.60}), which cannot be stored as JSON; "
        "convert it to a string, number, list or dict"
    )
