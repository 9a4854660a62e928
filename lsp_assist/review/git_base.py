"""The committed version of a file (git HEAD), to review only what changed against it."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

log = logging.getLogger(__name__)

GIT_TIMEOUT_S = 10.0


async def head_text(path: Path) -> str | None:
    """The file's text at HEAD, or None when it is not in git (new, untracked, no repo, no
    git installed): then every unit counts as changed."""
    try:
        process = await asyncio.create_subprocess_exec(
            "git",
            "show",
            f"HEAD:./{path.name}",
            cwd=path.parent,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        log.info("git is not available (%s): reviewing every function", exc)
        return None
    try:
        out, err = await asyncio.wait_for(process.communicate(), GIT_TIMEOUT_S)
    except asyncio.TimeoutError:  # not yet the builtin on 3.10
        process.kill()
        await process.wait()
        log.warning("git show timed out for %s", path)
        return None
    if process.returncode != 0:
        log.info("no HEAD version of %s: %s", path, err.decode(errors="replace").strip())
        return None
    return out.decode("utf-8", errors="replace")
