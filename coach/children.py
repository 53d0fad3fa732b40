"""Child processes that must not outlive the coach (the eval's llama_cpp.server holds ~3.6 GB
and both cores while it lives).

`stop()` ends the child on every normal path; a parent killed with SIGKILL never reaches it, so
on Linux the kernel is asked to send the child SIGTERM when its parent dies. Elsewhere this is a
no-op and the normal paths remain the only guard.
"""

from __future__ import annotations

import ctypes
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """`preexec_fn` for subprocess.Popen: SIGTERM this child when its parent thread exits."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
