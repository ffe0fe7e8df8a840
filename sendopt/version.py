"""What code produced an output: the package version and, in a git checkout, the commit."""
from __future__ import annotations

import functools
import os
import subprocess

from sendopt import __version__


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=os.path.dirname(os.path.abspath(__file__)),
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except Exception:
        commit = ""
    return f"sendopt {__version__}" + (f" ({commit})" if commit else "")
