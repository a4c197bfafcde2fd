"""What qa sets up in each Dask worker process (imported only with ``--cluster``).

Dask's nanny starts every worker process with ``MALLOC_TRIM_THRESHOLD_=65536`` (its
``distributed.nanny.pre-spawn-environ``, to hand freed memory back to the system). Any
such glibc malloc setting also switches off glibc's *dynamic mmap threshold*: normally
the threshold starts at 128 KiB and rises to the largest block freed so far (at most
32 MiB), so the buffers Whisper and spaCy allocate and free for every window and batch are
reused from the heap. With it switched off, every block over 128 KiB is a fresh ``mmap``
that the kernel fills with zero pages one fault at a time, and is unmapped again when
freed. Measured on 16 soak-call channels (README, "Scaling out"): 3.5× the page faults,
3.5× the system time and 1.5× the CPU time of the same work in a plain process; that was
most of the cluster's slower transcription.

:class:`QAWorkerPlugin` (registered by :class:`qa.executor.Session` on every cluster it
uses; the scheduler gives it to workers that join or restart later too) sets the two
thresholds to where glibc's dynamic rule ends: mmap above 32 MiB, trim when 64 MiB are
free at the top of the heap. ``OMP_NUM_THREADS=1``, which the nanny sets too, changes
nothing for qa: CTranslate2 sets its own thread count (``cpu_threads``).
"""

from __future__ import annotations

import logging
import platform
import signal
import threading

from distributed.diagnostics.plugin import WorkerPlugin

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024
"""glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit systems: the highest the dynamic rule goes."""
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD
"""What the dynamic rule sets with it (twice the mmap threshold)."""


def tune_malloc() -> bool:
    """Set glibc's mmap and trim thresholds of this process to where its dynamic rule ends
    (see the module's text). True when set; False off glibc (nothing to do there)."""
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        ok = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
        ok = libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
    except (OSError, AttributeError):
        return False
    return ok


class QAWorkerPlugin(WorkerPlugin):
    """Sets up a Dask worker process for qa's tasks: :func:`tune_malloc`; with
    ``ignore_sigint`` (the workers of a ``--cluster local:N`` that qa started, which share
    the terminal's process group) Ctrl-C is ignored, since the qa process handles it: it
    cancels the work and closes the cluster, without a traceback from every worker."""

    name = "qa-worker"
    idempotent = True  # registered by every qa command; once per worker is enough

    def __init__(self, ignore_sigint: bool = False):
        self.ignore_sigint = ignore_sigint

    def setup(self, worker) -> None:
        if not tune_malloc():
            log.debug("qa: malloc thresholds not set on %s (not glibc)", getattr(worker, "address", "?"))
        if self.ignore_sigint and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
