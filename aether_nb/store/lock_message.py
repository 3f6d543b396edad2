"""What to tell a user whose store file another process holds (DuckDB lets one process write a file, and keeps
every other process out meanwhile, readers too).

Why its own function: DuckDB's lock error names the holder's PID but not whether it writes or only reads, and the
right advice differs (a dashboard reading the file is no kernel to shut down)."""

from __future__ import annotations

import re

__all__ = ["lock_message"]


def lock_message(path: str, exc: BaseException, *, read_only: bool) -> str:
    """Why the file cannot be opened. A read-only open is refused only by a process writing the file; a writing
    open by any other process that has it open, a reader too (DuckDB's lock does not say which)."""
    match = re.search(r"PID (\d+)", str(exc))
    holder = f"another process (PID {match.group(1)})" if match else "another process"
    if read_only:
        what = (
            f"{holder} has it open for writing, and DuckDB keeps other processes out of a file while it is being "
            "written, a read-only open too"
        )
    else:
        what = (
            f"{holder} has it open (writing it, or only reading it: a read-only DuckDBStore, a dashboard, another "
            "notebook inspecting runs). DuckDB lets a process write a file only while no other process has it open"
        )
    return (
        f"cannot open the aether_nb store {path}: {what}. Close the store in that process (in a kernel, "
        "`%aether store` shows which file it uses and ag.configure(store=...) switches it to another one) or end "
        f"that process, or open a different file here. (DuckDB: {exc})"
    )
