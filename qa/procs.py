"""Helper processes die with the qa process that started them, and a re-run removes what a
killed run left.

qa starts processes in three ways: the scoring pool forks workers, spaCy's ``nlp.pipe``
forks workers when it runs with ``n_process > 1``, and the report stage runs a
``forkserver`` pool (a fork server, its resource tracker, and workers forked by the fork
server). After ``kill -9`` of qa none of them is told: a fork-server worker holds both ends
of its task queue and waits for ever, and the fork server waits for its workers.

* :func:`install` (``qa run`` calls it) registers an at-fork hook: every process forked
  from this one's main thread asks the kernel for ``SIGKILL`` when its parent dies
  (Linux ``prctl(PR_SET_PDEATHSIG)``), and it marks the environment (``QA_PARENT_PID``,
  ``QA_OUT``) that exec'd helpers inherit.
* :func:`forkserver_context` is the ``forkserver`` context for pools: the fork server
  imports :mod:`qa._forkserver_guard` first, which makes the fork server die with this
  process and its workers die with the fork server. The resource tracker then sees every
  writer of its pipe gone and exits by itself.
* :func:`reap_left_behind` (called by :func:`qa.store.run_lock` once it holds an output
  folder's lock) kills the helpers that a killed command on the same folder left running
  (found by their ``QA_OUT`` / ``QA_PARENT_PID`` environment, their parent gone): for
  systems or cases where the kernel could not do it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
ENV_PARENT = "QA_PARENT_PID"
ENV_OUT = "QA_OUT"

_installed = False
_fork_state = threading.local()
_forking_parent: list[int | None] = [None]
"""The pid of the process forking, when the fork happens on its main thread (set just
before the fork, read in the child)."""


def die_with_parent(parent: int | None = None) -> bool:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux). When
    ``parent`` is given and is no longer this process's parent (it died before the request
    was made), exit at once. Returns True when the request was made."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if parent is not None and os.getppid() != parent:
        os._exit(0)  # the parent is already gone: nobody waits for this process
    return True


def _before_fork() -> None:
    _forking_parent[0] = os.getpid() if threading.current_thread() is threading.main_thread() else None


def _after_fork_in_child() -> None:
    # PR_SET_PDEATHSIG fires when the *thread* that forked exits: only ask for it when
    # that thread is the main thread, which lives as long as the process
    parent = _forking_parent[0]
    if parent is not None:
        die_with_parent(parent)


def install(out_root: str | Path | None = None) -> None:
    """Make every process this one forks (from its main thread) die with it, and mark the
    environment that exec'd helpers (fork server, resource tracker) inherit with this
    process's pid and the output folder ``out_root``. Idempotent."""
    global _installed
    os.environ[ENV_PARENT] = str(os.getpid())
    if out_root is not None:
        os.environ[ENV_OUT] = str(Path(out_root).resolve())
    if not _installed and hasattr(os, "register_at_fork"):
        os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
        _installed = True


def forkserver_context():
    """A multiprocessing context for worker pools whose processes all die with this one:
    ``forkserver`` with :mod:`qa._forkserver_guard` preloaded (``spawn`` where there is no
    fork server)."""
    import multiprocessing as mp

    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    os.environ[ENV_PARENT] = str(os.getpid())
    ctx = mp.get_context("forkserver")
    from multiprocessing import forkserver

    preload = list(getattr(forkserver._forkserver, "_preload_modules", None) or ["__main__"])
    if "qa._forkserver_guard" not in preload:
        # the guard first: the fork server is protected before it imports anything else
        ctx.set_forkserver_preload(["qa._forkserver_guard", *preload])
    return ctx


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    out = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep and key in (ENV_PARENT.encode(), ENV_OUT.encode()):
            out[key.decode()] = value.decode("utf-8", "surrogateescape")
    return out


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    try:  # a zombie is dead for our purpose
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def left_behind(out_root: str | Path) -> list[int]:
    """Pids of helper processes started by a qa command on ``out_root`` whose qa process
    is gone (Linux ``/proc``; an empty list elsewhere)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    want = str(Path(out_root).resolve())
    me = os.getpid()
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if pid == me:
            continue
        env = _environ(pid)
        if env.get(ENV_OUT) != want or not env.get(ENV_PARENT, "").isdigit():
            continue
        parent = int(env[ENV_PARENT])
        if parent == me or pid == parent or pid_alive(parent):
            continue
        found.append(pid)
    return sorted(found)


def reap_left_behind(out_root: str | Path) -> int:
    """Kill the helper processes a killed qa command on ``out_root`` left running
    (:func:`left_behind`). Call it only while holding the folder's lock. Returns how many
    were killed."""
    killed = 0
    for pid in left_behind(out_root):
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except OSError:
            continue
    if killed:
        log.info("stopped %d helper process%s left running by an interrupted qa command",
                 killed, "" if killed == 1 else "es")
    return killed
