"""One executor for all of qa's parallel work: local pools by default, Dask when asked.

Every stage that runs work in parallel (transcription, scoring, report pages, the
conversation writes of ``qa ingest``) submits it through the same small interface,
shaped like :class:`concurrent.futures.Executor`:

* :meth:`Executor.submit` ``(fn, *args)`` returns a future;
* :meth:`Executor.as_completed` yields futures as they finish, and cancels whatever is
  still pending when the caller stops (Ctrl-C, an exception);
* :meth:`Executor.shutdown`.

Implementations:

* :class:`ThreadExecutor`: threads in this process (work that releases the GIL: Whisper
  inference, disk writes);
* :class:`ProcessExecutor`: worker processes started through a fork server that dies
  with this process (:func:`qa.procs.forkserver_context`), for CPU-bound Python (spaCy
  parsing and scoring, page rendering);
* :class:`DaskExecutor`: the workers of a Dask ``distributed`` cluster, either a running
  scheduler (``--cluster tcp://HOST:8786``) or a ``LocalCluster`` of N worker processes
  started for the command (``--cluster local:N``).

:class:`Session` owns the choice for one command: :meth:`Session.executor` gives the
executor for a kind of work (``"cpu"``, ``"gil-free"``; writes stay on the client).

Heavy state (the Whisper model, the spaCy pipeline, a page writer) is built once per
worker process with :func:`worker_cached` and kept for the life of the process, so a task
carries only its inputs.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from .errors import QAError

log = logging.getLogger(__name__)

DASK_INSTALL = "pip install 'qa-toolkit[dask]'  (or: pip install 'dask[distributed]>=2024.1')"


class ClusterError(QAError):
    """The cluster named by ``--cluster`` cannot be used."""

    stage = "cluster"


# ---------------------------------------------------------------- options
@dataclass(frozen=True)
class ClusterOptions:
    """Where parallel work runs. ``address`` None: local pools (the default);
    ``local:N``: a Dask LocalCluster of N worker processes started for the command;
    ``tcp://HOST:PORT`` (or any Dask address): a running Dask scheduler."""

    address: str | None = None

    @property
    def distributed(self) -> bool:
        return self.address is not None

    @property
    def local_workers(self) -> int | None:
        """N for ``local:N``, else None."""
        if self.address and self.address.startswith("local:"):
            return int(self.address.split(":", 1)[1])
        return None

    @staticmethod
    def parse(text: str | None) -> "ClusterOptions":
        """Check a ``--cluster`` value; a bad one raises ValueError with the fix."""
        if text is None or not str(text).strip():
            return ClusterOptions()
        text = str(text).strip()
        if text.startswith("local:"):
            n = text.split(":", 1)[1]
            if not n.isdigit() or not 1 <= int(n) <= 256:
                raise ValueError(f"{text!r}: local:N needs a number of workers from 1 to 256, e.g. local:2")
            return ClusterOptions(f"local:{int(n)}")
        if "://" in text and text.split("://", 1)[1]:
            return ClusterOptions(text)
        raise ValueError(f"{text!r} is not a cluster: use local:N (N worker processes on this "
                         "machine) or the scheduler's address, e.g. tcp://10.0.0.5:8786")


# ---------------------------------------------------------------- per-worker state
_CACHE: dict[Any, Any] = {}
_CACHE_LOCK = threading.RLock()


def worker_cached(key: Any, factory: Callable[[], Any]) -> Any:
    """``factory()`` once per process for ``key`` (the Whisper model, a spaCy scorer, a
    page writer), then the same object for every later task in that process: in this
    process, in a local worker process, in a Dask worker. Thread-safe."""
    try:
        return _CACHE[key]
    except KeyError:
        pass
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = factory()
        return _CACHE[key]


def forget_cached(key: Any) -> None:
    """Drop this process's object for ``key`` (e.g. the page writer of a finished report run)."""
    with _CACHE_LOCK:
        _CACHE.pop(key, None)


# ---------------------------------------------------------------- executors
class Executor:
    """The interface every stage uses (a :class:`concurrent.futures.Executor` shape)."""

    distributed = False
    workers = 1

    def submit(self, fn: Callable, /, *args, **kwargs):  # pragma: no cover - interface
        raise NotImplementedError

    def map(self, fn: Callable, *iterables) -> Iterator:
        futures = [self.submit(fn, *args) for args in zip(*iterables)]
        try:
            for f in futures:
                yield f.result()
        finally:
            self.cancel(futures)

    def as_completed(self, futures: Iterable) -> Iterator:
        """Futures as they finish. When the caller stops early (Ctrl-C, an exception, a
        ``break``) the futures not yet yielded are cancelled."""
        futures = list(futures)
        done: set = set()
        try:
            for f in cf.as_completed(futures):
                done.add(f)
                yield f
        finally:
            self.cancel([f for f in futures if f not in done])

    def wait_first(self, futures: Iterable) -> tuple[set, set]:
        """(done, not done) as soon as at least one of ``futures`` is done."""
        return cf.wait(list(futures), return_when=cf.FIRST_COMPLETED)

    def cancel(self, futures: Sequence) -> None:
        for f in futures:
            f.cancel()

    def forget(self, key: Any) -> None:
        """Drop the workers' :func:`worker_cached` object for ``key`` (local pools end with
        their command, so they need nothing)."""

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown(wait=exc[0] is None, cancel_futures=exc[0] is not None)


class _PoolExecutor(Executor):
    def __init__(self, workers: int):
        self.workers = max(1, int(workers))
        self._pool: cf.Executor | None = None
        self._lock = threading.Lock()

    def _make(self) -> cf.Executor:  # pragma: no cover - interface
        raise NotImplementedError

    def submit(self, fn: Callable, /, *args, **kwargs) -> cf.Future:
        with self._lock:
            if self._pool is None or getattr(self._pool, "_broken", False):
                # started on first use (a stage with nothing to do starts nothing), and
                # again after a worker died (the stage has made that work a failure)
                if self._pool is not None:
                    self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._make()
        return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=cancel_futures)


class ThreadExecutor(_PoolExecutor):
    """Threads of this process: for work that releases the GIL (CTranslate2, fsync)."""

    def __init__(self, workers: int, name: str = "qa"):
        super().__init__(workers)
        self.name = name

    def _make(self) -> cf.Executor:
        return cf.ThreadPoolExecutor(self.workers, thread_name_prefix=self.name)


class ProcessExecutor(_PoolExecutor):
    """Worker processes on this machine, for CPU-bound Python (spaCy, page rendering).

    ``start="auto"``: workers are forked from this process when no other Python thread
    runs when the pool starts (no Whisper threads, no Dask client): they start at once and
    share what this process has loaded (the spaCy pipeline). Otherwise, and with
    ``start="forkserver"`` (the report pages, after Polars has run its thread pool), they
    come from a fork server: never a fork of a threaded process. Either way they die with
    this process, kill -9 included (:mod:`qa.procs`). A worker that dies breaks the pool;
    the stage makes that work a failure (or redoes it in this process) and the next submit
    starts a fresh pool."""

    def __init__(self, workers: int, start: str = "auto"):
        super().__init__(workers)
        self.start = start

    def start_method(self) -> str:
        import multiprocessing as mp

        if self.start != "auto":
            return self.start
        if "fork" in mp.get_all_start_methods() and threading.active_count() == 1:
            return "fork"
        return "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"

    def _make(self) -> cf.Executor:
        import multiprocessing as mp

        from .procs import forkserver_context

        method = self.start_method()
        if method == "fork":
            return cf.ProcessPoolExecutor(self.workers, mp_context=mp.get_context("fork"),
                                          initializer=_forked_worker)
        return cf.ProcessPoolExecutor(self.workers, mp_context=forkserver_context())


def _forked_worker() -> None:
    """A forked worker dies with the process that forked it (Linux), not scoring on for nobody.

    Everything it inherited (the parent's spaCy pipeline, scorer, the conversations read so
    far) is moved out of the garbage collector's reach (:func:`gc.freeze`, as the ``gc``
    documentation advises for forked workers): the worker's full collections then walk only
    what the worker made, instead of the whole inherited heap, page by copied page."""
    import gc

    from .procs import die_with_parent

    die_with_parent()
    gc.freeze()


class DaskExecutor(Executor):
    """The workers of a Dask ``distributed`` cluster, through a ``distributed.Client``.

    A task that raises comes back as that future's exception (the stage makes it a failure
    row). A worker that dies mid-task is not the task's failure: the scheduler runs it
    again on another worker (``distributed.scheduler.allowed-failures`` times, then the
    future raises ``KilledWorker``, again a failure row). Results come back once per
    future, so nothing is counted twice."""

    distributed = True

    def __init__(self, client):
        import weakref

        self.client = client
        self._submitted: "weakref.WeakSet" = weakref.WeakSet()

    @property
    def workers(self) -> int:  # type: ignore[override]
        try:
            return max(1, sum(w.get("nthreads", 1) for w in
                              self.client.scheduler_info()["workers"].values()))
        except Exception:  # noqa: BLE001 - a count for sizing only
            return 1

    def submit(self, fn: Callable, /, *args, **kwargs):
        # pure=False: two equal submissions are two tasks (a retried chunk is not merged)
        fut = self.client.submit(fn, *args, pure=False, **kwargs)
        self._submitted.add(fut)
        return fut

    def cancel_all(self) -> None:
        """Cancel every task this command submitted that has not finished (Ctrl-C)."""
        self.cancel([f for f in list(self._submitted) if not f.done()])

    def as_completed(self, futures: Iterable) -> Iterator:
        from distributed import as_completed

        futures = list(futures)
        done: set = set()
        try:
            for f in as_completed(futures):
                done.add(f.key)
                yield f
        finally:
            self.cancel([f for f in futures if f.key not in done])

    def wait_first(self, futures: Iterable) -> tuple[set, set]:
        from distributed import wait

        res = wait(list(futures), return_when="FIRST_COMPLETED")
        return set(res.done), set(res.not_done)

    def cancel(self, futures: Sequence) -> None:
        if futures:
            try:
                self.client.cancel(list(futures))
            except Exception:  # noqa: BLE001 - the client may be closing
                log.debug("cancelling cluster tasks failed", exc_info=True)

    def forget(self, key: Any) -> None:
        try:
            self.client.run(forget_cached, key)
        except Exception:  # noqa: BLE001 - memory only
            log.debug("dropping %r on the workers failed", key, exc_info=True)


# ---------------------------------------------------------------- one command's executors
def _import_distributed():
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ClusterError("--cluster needs Dask distributed, which is not installed",
                           fix=f"Install it: {DASK_INSTALL}") from None
    return distributed


class Session:
    """The executors of one command: local pools, or one Dask client for every stage.

    ``with Session(ClusterOptions(...)) as session: session.executor("cpu", jobs)``.
    The Dask client (and a ``local:N`` cluster) is started on entry and closed on exit;
    local pools are started on first use and shut down on exit. Ctrl-C inside the
    block cancels the cluster's pending tasks."""

    def __init__(self, cluster: ClusterOptions | None = None, scratch: str | Path | None = None):
        self.cluster = cluster or ClusterOptions()
        self.scratch = scratch
        """Where a ``local:N`` cluster's workers keep their files (Dask's default is
        ``$TMPDIR/dask-scratch-space``, outside the output folder)."""
        self.client = None
        self._cluster = None
        self._local: list[Executor] = []
        self._dask: DaskExecutor | None = None

    @property
    def distributed(self) -> bool:
        return self.cluster.distributed

    def __enter__(self) -> "Session":
        if self.cluster.distributed and self.client is None:
            self._start()
        return self

    def _start(self) -> None:
        _import_distributed()
        from distributed import Client

        addr = self.cluster.address
        n = self.cluster.local_workers
        # Dask logs every connection at INFO: only its warnings reach qa's stderr
        for name in ("distributed", "tornado", "bokeh"):
            logging.getLogger(name).setLevel(logging.WARNING)
        logging.getLogger("distributed.nanny").setLevel(logging.ERROR)  # slow worker exits
        try:
            if n is not None:
                from distributed import LocalCluster

                # one thread per worker process: each process holds one model (Whisper or
                # spaCy) and runs one task at a time, like the local pools; Whisper in each
                # takes its share of the cores (qa.transcribe.HOST_WORKERS_ENV)
                os.environ["QA_HOST_WORKERS"] = str(n)
                if self.scratch is not None:  # the scheduler's and the workers' files
                    import dask

                    Path(self.scratch).mkdir(parents=True, exist_ok=True)
                    dask.config.set({"temporary-directory": str(self.scratch)})
                # no dashboard; the scheduler's HTTP server (health checks) on a free port
                # of this machine only, not on 8787 with a warning when that one is taken
                # Ctrl-C in a terminal reaches the whole process group: the worker
                # processes ignore it (started with SIGINT ignored, which a new Python
                # keeps; the plugin does it again for a worker restarted later), and this
                # process cancels their work and closes them
                with _sigint_ignored():
                    self._cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                                 dashboard_address="127.0.0.1:0",
                                                 scheduler_kwargs={"dashboard": False},
                                                 silence_logs=logging.ERROR)
                self.client = Client(self._cluster)
            else:
                self.client = Client(addr, timeout="20s")
        except (OSError, TimeoutError) as exc:
            self.close()
            raise ClusterError(f"cannot reach the Dask scheduler at {addr} ({exc})",
                               fix="Start it with `dask scheduler` and workers with `dask worker "
                                   "ADDRESS`, or use --cluster local:N.") from None
        if n is None:
            try:
                self.client.wait_for_workers(1, timeout=30)
            except (OSError, TimeoutError):
                self.close()
                raise ClusterError(f"the Dask scheduler at {addr} has no workers",
                                   fix="Start at least one with `dask worker " + str(addr) + "`.") from None
        self._setup_workers(local=n is not None)
        self._dask = DaskExecutor(self.client)
        log.info("cluster %s: %d worker process%s", addr, len(self.client.scheduler_info()["workers"]),
                 "" if len(self.client.scheduler_info()["workers"]) == 1 else "es")

    def _setup_workers(self, local: bool) -> None:
        """Register :class:`qa.dask_worker.QAWorkerPlugin` (glibc malloc thresholds that
        Dask's worker environment leaves slow; on a ``local:N`` cluster, Ctrl-C left to this
        process): on every worker now and on those that join or restart later. A worker
        that cannot import qa fails here, before any work."""
        from .dask_worker import QAWorkerPlugin

        try:
            self.client.register_plugin(QAWorkerPlugin(ignore_sigint=local))
        except Exception as exc:  # noqa: BLE001 - whatever the worker raised, said once
            addr = self.cluster.address
            self.close()
            what = (str(exc).splitlines() or [""])[0][:160]
            if type(exc) is not Exception:  # Dask wraps what the worker raised in Exception
                what = f"{type(exc).__name__}: {what}"
            raise ClusterError(f"a Dask worker of {addr} cannot run qa ({what})",
                               fix="Install the same qa version in every worker's Python "
                                   f"environment ({DASK_INSTALL.split('  ')[0]}) and restart the "
                                   "workers.") from None

    def executor(self, kind: str, workers: int, *, fork: bool = True) -> Executor:
        """The executor for ``kind`` of work: ``"cpu"`` (Python-heavy: processes locally;
        ``fork=False`` always through the fork server) or ``"gil-free"`` (threads locally).
        On a cluster both are the cluster's workers."""
        if self._dask is not None:
            return self._dask
        ex: Executor = (ProcessExecutor(workers, "auto" if fork else "forkserver") if kind == "cpu"
                        else ThreadExecutor(workers, f"qa-{kind}"))
        self._local.append(ex)
        return ex

    def check_shared(self, paths: Iterable[str | Path]) -> None:
        """On a cluster, check that every worker sees ``paths`` (the output folder first,
        then the inputs) at the same place; raise :class:`ClusterError` naming the worker
        and the path otherwise. A probe file written into the first path (the output
        folder: never into an input folder) must be there on each worker with the same
        content, so a worker with another folder at the same path fails too. Locally,
        nothing to check."""
        if self.client is None:
            return
        paths = [str(Path(p).resolve()) for p in paths]
        first = paths[0] if paths else None
        paths = sorted(set(paths))
        token = uuid.uuid4().hex
        probe = None
        if first is not None and Path(first).is_dir():
            probe = Path(first) / f".qa-shared-check-{token}"
            try:
                probe.write_text(token, encoding="utf-8")
            except OSError as exc:
                raise ClusterError(f"cannot write into the output folder {first} ({exc.strerror or exc})",
                                   path=first, fix="Check its permissions and free space.") from None
        try:
            seen = self.client.run(_sees, paths, str(probe) if probe else None, token)
        finally:
            if probe is not None:
                probe.unlink(missing_ok=True)
        for worker, missing in sorted(seen.items()):
            if missing:
                raise ClusterError(
                    f"Dask worker {worker} cannot see {missing[0]}", path=missing[0],
                    fix="Inputs and the output folder must be on a filesystem every worker mounts "
                        "at the same path (NFS, SMB, a cluster filesystem); mount it there, or "
                        "use --cluster local:N.")

    def close(self) -> None:
        for ex in self._local:
            ex.shutdown(wait=False, cancel_futures=True)
        self._local.clear()
        if self.client is not None:
            try:
                self.client.close()
            except Exception:  # noqa: BLE001 - closing
                log.debug("closing the Dask client failed", exc_info=True)
            self.client = None
        if self._cluster is not None:
            try:
                self._cluster.close()
            except Exception:  # noqa: BLE001 - closing
                log.debug("closing the local cluster failed", exc_info=True)
            self._cluster = None
        self._dask = None

    def __exit__(self, *exc) -> None:
        if exc[0] is not None and self._dask is not None:
            self._dask.cancel_all()  # Ctrl-C or an error: the cluster stops this command's work
        self.close()


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored in this process while the block starts child processes (they keep
    ignoring it). Only the main thread can change it; elsewhere, nothing changes."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _sees(paths: list[str], probe: str | None, token: str) -> list[str]:
    """Worker side of :meth:`Session.check_shared`: the paths this worker cannot see."""
    missing = [p for p in paths if not os.path.exists(p)]
    if probe is not None and not missing:
        try:
            if Path(probe).read_text(encoding="utf-8") != token:
                missing.append(str(Path(probe).parent))
        except OSError:
            missing.append(str(Path(probe).parent))
    return missing
