"""One way to write a file that readers may open at any moment: write a temporary file named by this process,
flush it to disk, then rename it into place. A reader sees the old file or the whole new one, never half of it,
and concurrent writers of the same content do not collide on the temporary name."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    return path
