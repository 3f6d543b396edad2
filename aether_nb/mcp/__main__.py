"""``python -m aether_nb.mcp``: serve a module's tools and agents over MCP (stdio), or list what it would serve.

python -m aether_nb.mcp serve mymodule --store agents.duckdb [--name NAME]
python -m aether_nb.mcp tools mymodule
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from aether_nb.errors import AetherError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aether_nb.mcp", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve MODULE's @tool and @graph_fn objects over MCP on stdio")
    serve.add_argument("module", help="a module name (importable from here) or a .py file")
    serve.add_argument(
        "--store",
        required=True,
        help="the DuckDB file the calls' runs go to (not a notebook's own store: the kernel keeps that one locked)",
    )
    serve.add_argument("--name", help="the server's name as clients see it (default: the module's name)")
    tools = sub.add_parser("tools", help="print the tools MODULE would serve, with their JSON schemas")
    tools.add_argument("module")
    args = parser.parse_args(argv)

    from aether_nb.mcp import require_sdk
    from aether_nb.mcp.server import collect, load_module, serve_stdio

    try:
        require_sdk()
        if args.command == "tools":
            served, problems = collect(load_module(args.module))
            listing = [
                {
                    "name": s.name,
                    "kind": s.kind,
                    "description": s.description,
                    "input_schema": s.input_schema,
                    "output_schema": s.output_schema,  # (None: the tool declares no outputs, clients get none)
                }
                for s in served
            ]
            print(json.dumps(listing, indent=2))
            for problem in problems:
                print(problem, file=sys.stderr)
            return 0
        stopped_by = asyncio.run(serve_stdio(args.module, store=args.store, name=args.name))
        if stopped_by is not None:
            return 128 + stopped_by  # (the shell's code for a process a signal ended)
    except AetherError as exc:
        print(f"aether_nb.mcp: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
