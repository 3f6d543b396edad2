"""Hatch build hook: bundle the widget front end with esbuild before the wheel is assembled.

The bundles in ``aether_nb/notebook/static/`` are git-ignored build output, so every wheel build
(``pip install .``) and every editable install (``pip install -e .``) runs ``npm ci`` and
``npm run build`` here. The build is skipped when every bundle is newer than ``package.json`` and
every file under ``js/``, which keeps repeated editable installs fast.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

# One bundle per entry in js/ (see package.json "build").
BUNDLES = ("run_widget.js",)


class NpmBuildHook(BuildHookInterface):
    """Run npm so that ``aether_nb/notebook/static/*.js`` exists before hatchling collects the files."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        # Editable installs build the "wheel" target too (version "editable"); the bundles then land in the
        # source tree, which is what an editable install imports from.
        if self.target_name != "wheel":
            return  # the sdist ships the sources (js/, package.json), not the bundles
        root = Path(self.root)
        static = root / "aether_nb" / "notebook" / "static"
        if _bundles_fresh(root, static):
            self.app.display_info("aether_nb: widget bundles are up to date, skipping npm")
            return
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(
                "aether_nb: building the widget front end needs npm (Node.js 20 or later), "
                "and `npm` is not on PATH. Install Node.js + npm "
                "(Debian: `apt-get install nodejs npm`), then rerun the install."
            )
        install = "ci" if (root / "package-lock.json").exists() else "install"
        env = {**os.environ, "NO_UPDATE_NOTIFIER": "1"}
        for args in ([npm, install, "--no-audit", "--no-fund"], [npm, "run", "build"]):
            command = "npm " + " ".join(args[1:])
            self.app.display_info(f"aether_nb: running {command}")
            result = subprocess.run(args, cwd=root, env=env, check=False)
            if result.returncode != 0:
                raise RuntimeError(f"aether_nb: `{command}` failed with exit code {result.returncode}")
        missing = [name for name in BUNDLES if not (static / name).is_file()]
        if missing:
            raise RuntimeError(f"aether_nb: npm run build did not produce {', '.join(missing)} in {static}")


def _bundles_fresh(root: Path, static: Path) -> bool:
    """True when every bundle exists and is newer than package.json and every file under js/."""
    bundles = [static / name for name in BUNDLES]
    if not all(path.is_file() for path in bundles):
        return False
    sources = [root / "package.json", *(p for p in (root / "js").rglob("*") if p.is_file())]
    newest_source = max((p.stat().st_mtime for p in sources if p.exists()), default=0.0)
    return min(p.stat().st_mtime for p in bundles) > newest_source
