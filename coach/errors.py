"""The coach's small exception hierarchy.

Library code raises these; only the CLI and the UI turn them into friendly text and exit codes
(see the command-line contract in DESIGN.md). Every message says how to fix the problem.
"""

from __future__ import annotations

import json
from pathlib import Path


class CoachError(Exception):
    """Base class. `code` is the machine-readable error code in JSON output."""

    code = "internal"
    exit_code = 1

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class SetupError(CoachError):
    """Something installable is missing or broken: a package, a model file, the index."""

    code = "setup"
    exit_code = 3


class BadInput(CoachError):
    """The user's input cannot be processed (empty, too large, unknown id, not UTF-8...)."""

    code = "bad_input"
    exit_code = 4


class UsageError(CoachError):
    """The command line itself is wrong."""

    code = "usage"
    exit_code = 2


class BackendError(CoachError):
    """A model backend failed, timed out or is unreachable."""

    code = "backend"
    exit_code = 1


def read_setup_json(path: Path, what: str, fix: str, check=None, why: str = "") -> object:
    """Read a JSON data file the coach cannot run without; `check` validates its content by
    raising KeyError/TypeError/ValueError. Any failure is a SetupError naming the file, what is
    wrong, `why` it matters and the `fix`; never a silent default."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SetupError(
            f"Cannot read {what} {path} ({exc.strerror or exc}){why}. Fix: {fix}"
        ) from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise SetupError(
            f"{what.capitalize()} {path} is not valid JSON ({exc}). Fix: {fix}"
        ) from exc
    if check is not None:
        try:
            check(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise SetupError(
                f"{what.capitalize()} {path} is not valid ({exc}). Fix: {fix}"
            ) from exc
    return data
