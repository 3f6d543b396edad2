"""Run a notebook headless in a real kernel and print what its cells printed and returned.

``python -m aether_nb.testing.notebook_runner notebooks/quickstart.ipynb`` (``make demo``). Needs the ``dev``
extra (nbclient). Exits non-zero when a cell fails, after printing its traceback. The kernel runs in a temporary
folder, so the notebook's store and any files its cells write are gone afterwards (nothing lands beside it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from typing import Any


def _outputs_text(outputs: list[Any]) -> str:
    parts = []
    for out in outputs:
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif out.get("output_type") in ("execute_result", "display_data"):
            parts.append(out.get("data", {}).get("text/plain", "") + "\n")
        elif out.get("output_type") == "error":
            parts.append("\n".join(out.get("traceback", [])) + "\n")
    return "".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("notebook")
    parser.add_argument("--timeout", type=int, default=300, help="seconds per cell")
    args = parser.parse_args(argv)
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(args.notebook, as_version=4)  # type: ignore[no-untyped-call]
    failed = False
    with tempfile.TemporaryDirectory(prefix="aether-nb-run-") as folder:
        client = NotebookClient(
            nb, timeout=args.timeout, kernel_name="python3", resources={"metadata": {"path": folder}}
        )
        try:
            client.execute()
        except CellExecutionError:
            failed = True
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        print(f"── [{i}] " + cell.source.splitlines()[0] if cell.source else f"── [{i}]")
        text = _outputs_text(cell.get("outputs", []))
        if text:
            print("   " + text.rstrip().replace("\n", "\n   "))
    print("── notebook failed" if failed else "── notebook ran to the end")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
