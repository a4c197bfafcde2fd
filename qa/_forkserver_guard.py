"""Imported first by the fork server of qa's worker pools (:func:`qa.procs.forkserver_context`):
the fork server dies with the qa process that started it, and every worker it forks dies
with the fork server. Importing it anywhere else does nothing."""

from __future__ import annotations

import os

from .procs import ENV_PARENT, _after_fork_in_child, _before_fork, die_with_parent


def _guard() -> None:
    parent = os.environ.get(ENV_PARENT, "")
    if not parent.isdigit() or int(parent) == os.getpid():
        return  # not a fork server of a qa process
    die_with_parent(int(parent))
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


_guard()
