"""``import aether_nb`` is cheap (W6): the public names load on first use, and behave as if imported eagerly.

Each check runs in a fresh interpreter, since this test session has long since imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _fresh(code: str) -> object:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_defers_the_heavy_libraries_and_the_run_machinery() -> None:
    lazy = [
        "duckdb",
        "openai",
        "jsonschema",
        "pydantic",
        "aether_nb.services.llm",
        "aether_nb.services.channel",
        "aether_nb.runtime.run",
        "aether_nb.runtime.scheduler",
        "aether_nb.runtime.graph_fn",
    ]
    code = f"import json, sys, aether_nb; print(json.dumps([m for m in {lazy!r} if m in sys.modules]))"
    assert _fresh(code) == []


def test_public_names_resolve_to_their_defining_objects() -> None:
    code = (
        "import json, aether_nb as ag\n"
        "from aether_nb import tool, ConsoleChannel, LLMProfile\n"
        "import aether_nb.runtime.tools as t, aether_nb.services.console as c, aether_nb.services.llm_config as l\n"
        "import aether_nb.config as cfg\n"
        "names = {n: getattr(ag, n) for n in ag.__all__}\n"
        "print(json.dumps([\n"
        "    tool is t.tool and ConsoleChannel is c.ConsoleChannel and LLMProfile is l.LLMProfile,\n"
        "    ag.store is cfg.store and ag.session is cfg.session,\n"
        "    set(ag.__all__) <= set(dir(ag)),\n"
        "    hasattr(ag, 'no_such_name'),\n"
        "]))"
    )
    assert _fresh(code) == [True, True, True, False]


def test_star_import_gives_every_public_name() -> None:
    code = (
        "import json, aether_nb\n"
        "ns = {}\n"
        "exec('from aether_nb import *', ns)\n"
        "print(json.dumps(sorted(set(aether_nb.__all__) - set(ns))))"
    )
    assert _fresh(code) == []


def test_default_session_is_wired_when_only_a_submodule_is_imported() -> None:
    """Importing any part of the package installs the wired default session (channel, kv, memory...)."""
    code = (
        "import json\n"
        "from aether_nb.runtime.session import default_session\n"
        "print(json.dumps(sorted(k for k in ('channel', 'kv', 'memory') if k in default_session().service_factories)))"
    )
    assert _fresh(code) == ["channel", "kv", "memory"]


def test_opening_a_store_file_leaves_numpy_to_the_first_apply(tmp_path: Path) -> None:
    """NumPy (~100 ms of import holding the GIL) is not imported when the file opens, where it competed with the
    first runs of a fresh kernel; the first apply imports it and the tables fill as before."""
    code = (
        "import asyncio, json, sys, aether_nb as ag\n"
        f"ag.configure(store={str(tmp_path / 'n.duckdb')!r})\n"
        "@ag.tool\n"
        "def inc(x: int) -> int:\n"
        "    return x + 1\n"
        "@ag.graph_fn\n"
        "async def flow(x: int = 0):\n"
        "    return {'y': await inc(x)}\n"
        "out = asyncio.run(flow(x=1))\n"
        "ag.session().flush()\n"
        "before = 'numpy' in sys.modules\n"
        'nodes = ag.store().sql("SELECT count(*) AS n FROM nodes").rows[0][0]\n'
        "print(json.dumps([out['y'], before, nodes, 'numpy' in sys.modules]))"
    )
    assert _fresh(code) == [{"result": 2}, False, 1, True]


def test_import_compiles_no_redaction_pattern_and_the_first_redaction_does() -> None:
    """The redaction patterns (~8 ms of compiling, a tenth of the import) are compiled by the first redaction, not
    by ``import aether_nb``; redaction works the same."""
    code = (
        "import json, re, sys\n"
        "real, seen = re.compile, []\n"
        "def spy(pattern, flags=0):\n"
        "    seen.append(sys._getframe(1).f_code.co_filename)\n"
        "    return real(pattern, flags)\n"
        "re.compile = spy\n"
        "import aether_nb\n"
        "ours = lambda: [f for f in seen if f.endswith(('redact.py', 'detectors.py'))]\n"
        "at_import = len(ours())\n"
        "from aether_nb.store.redact import redact_text\n"
        'out = redact_text(\'{"password": "hunter22", "note": "Cookie: sid=abc123"}\')\n'
        "print(json.dumps([at_import, len(ours()) > 0, out]))"
    )
    assert _fresh(code) == [0, True, '{"password": "[REDACTED]", "note": "Cookie: [REDACTED]"}']


def test_configuring_a_store_loads_redaction_so_a_run_does_not() -> None:
    """detect-secrets' catalogue (~100 ms: it imports requests) and RE2 load when a store is configured (and at
    ``%load_ext``), not in the middle of the first run whose history holds a URL (a detector's hint)."""
    code = (
        "import asyncio, json, sys, aether_nb as ag\n"
        "heavy = lambda: sorted(m for m in ('detect_secrets', 'requests', 're2') if m in sys.modules)\n"
        "at_import = heavy()\n"
        "ag.configure(store=':memory:')\n"
        "configured = heavy()\n"
        "@ag.tool\n"
        "def fetch(url: str) -> str:\n"
        "    return 'page of ' + url\n"
        "@ag.graph_fn\n"
        "async def flow(url: str):\n"
        "    return {'page': await fetch(url)}\n"
        "loaded = set(sys.modules)\n"
        "out = asyncio.run(flow(url='https://user:pw@example.com/a'))\n"
        "ag.session().flush()\n"
        "roots = ('detect_secrets', 'requests', 're2')\n"
        "during = sorted(m for m in set(sys.modules) - loaded if m.split('.')[0] in roots)\n"
        "print(json.dumps([at_import, configured, during, out['page']['result']]))"
    )
    assert _fresh(code) == [[], ["detect_secrets", "re2", "requests"], [], "page of https://user:pw@example.com/a"]
