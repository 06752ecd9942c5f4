"""How a run ends: the writer finishes it, and a reader can tell a dead writer from a live one.

A run is ``running`` from its creation until its writer says otherwise. A process that ends
without saying so (killed, crashed, a notebook kernel restarted) would leave it ``running``
forever, and every reader would then treat it as partial. Two mechanisms close that gap:

* **The writer finishes its run.** :class:`RunCloser` ties a run to the object that writes it (a
  :class:`~spectral_edge.SpectralMonitor`): ``close()`` finishes it, and if nobody does, a weak
  finalizer does when the object is garbage-collected or at interpreter exit. At exit the status
  is ``finished`` after a normal end, ``interrupted`` after an uncaught KeyboardInterrupt and
  ``failed`` after any other uncaught exception (known through a chained ``sys.excepthook``).
  Nothing here ever raises: a store that went away leaves the run as it was.
* **A reader checks the writer.** Every run records its writer (host name, process id and, on
  Linux, the process's start time); a resume records the new writer. A reader sees a run whose
  stored status is ``running`` as ``interrupted`` when its writer ran on this host and that
  process no longer exists (:func:`effective_status`). The start time guards against a recycled
  process id. A writer on another host cannot be checked: such a run reads ``running`` until it
  is finished or resumed. (Containers sharing a host name but not a process namespace would
  misread each other's live runs as interrupted; give containers their own host names.)

Only the status shown is inferred; the stored status stays ``running`` until a writer changes it
(a resume sets ``running`` again with the new writer, and any ``set_status`` is final).
:func:`resumable_run` is how ``SpectralMonitor(resume=True)`` reopens a run.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import weakref
from collections.abc import Mapping
from typing import Any

from spectral_edge.errors import SpectralEdgeError

__all__ = ["RunCloser", "effective_status", "resumable_run", "writer", "writer_alive"]


def writer() -> dict[str, Any]:
    """This process as a run's writer: host name, pid and (Linux) the process's start time."""
    return {"hostname": socket.gethostname(), "pid": os.getpid(), "pid_started": _started(None)}


def _started(pid: int | None) -> int | None:
    """The start time of a process in clock ticks since boot (Linux /proc), else None."""
    try:
        with open(f"/proc/{pid or 'self'}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
        # The command name (field 2) may contain spaces and parentheses: count after its end.
        return int(stat[stat.rindex(")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def writer_alive(environment: Mapping[str, Any]) -> bool | None:
    """Whether the process that wrote a run still runs: True, False, or None (cannot tell:
    another host, or no writer recorded)."""
    pid = environment.get("pid")
    if environment.get("hostname") != socket.gethostname() or not isinstance(pid, int):
        return None
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    except OSError:
        return None
    recorded, now = environment.get("pid_started"), _started(pid)
    if isinstance(recorded, int) and now is not None and now != recorded:
        return False  # the pid was recycled by a newer process
    return True


def effective_status(status: str, environment: Mapping[str, Any]) -> str:
    """The status to show: ``interrupted`` for a ``running`` run whose writer is known dead."""
    if status == "running" and writer_alive(environment) is False:
        return "interrupted"
    return status


# -- the writer's side ---------------------------------------------------------------------------


def resumable_run(store, name: str | None, monitor_config: dict):
    """The stored run ``name`` reopened for writing (status ``running``), or None if there is
    none; refused when it was written by a monitor configured differently, whose windows would
    not continue these."""
    if name is None:
        raise SpectralEdgeError("resume=True continues a run by its name: pass run_name= too")
    if name not in set(store.runs()["name"]):
        return None
    run = store.run(name)
    stored = run.config.get("monitor", {})
    monitor_config = json.loads(json.dumps(monitor_config, default=str))  # as stored: lists
    ignored = {"spectral_edge_version", "torch_version"}
    changed = sorted(
        k
        for k in set(stored) | set(monitor_config)
        if k not in ignored and stored.get(k) != monitor_config.get(k)
    )
    if changed:
        raise SpectralEdgeError(
            f"cannot resume run {name!r}: the monitor is configured differently in {changed}; "
            "use the same settings, another run_name, or overwrite=True"
        )
    run.set_status("running")
    return run


_uncaught: list[type[BaseException]] = []  # the type of an exception that is ending the process
_hook_installed = False


def _install_excepthook() -> None:
    """Chain ``sys.excepthook`` once, to know at exit whether the process ended by an error."""
    global _hook_installed
    if _hook_installed:
        return
    previous = sys.excepthook

    def hook(exc_type, exc, tb):
        _uncaught.append(exc_type)
        previous(exc_type, exc, tb)

    sys.excepthook = hook
    _hook_installed = True


def _exit_status() -> str:
    if not _uncaught:
        return "finished"
    return "interrupted" if issubclass(_uncaught[-1], KeyboardInterrupt) else "failed"


def _finish(run, status: str | None) -> None:
    """Finish ``run``; never raises (the end of a process is no place for a new error)."""
    try:
        run.finish(status or _exit_status())
    except Exception:  # noqa: BLE001 - a closed store, a deleted run: leave the run as it is
        pass


class RunCloser:
    """Finishes ``run`` once: on :meth:`close`, or when ``owner`` is collected, or at exit.

    The finalizer holds the run, never the owner, so the owner can be collected as usual.
    """

    def __init__(self, owner: object, run) -> None:
        _install_excepthook()
        self._finalizer = weakref.finalize(owner, _finish, run, None)

    @property
    def open(self) -> bool:
        return self._finalizer.alive

    def close(self, status: str = "finished") -> bool:
        """Finish the run with ``status``; False if it was already closed."""
        detached = self._finalizer.detach()
        if detached is None:
            return False
        _, _, (run, _), _ = detached
        _finish(run, status)
        return True
