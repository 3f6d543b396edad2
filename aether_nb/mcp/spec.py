"""How to reach an MCP server: a command to start (stdio) or a URL (streamable HTTP), checked once.

A :class:`ServerSpec` is what ``ag.mcp.connect(name, ...)`` and ``ag.configure(mcp={name: {...}})`` are turned
into. Its :attr:`~ServerSpec.fingerprint` identifies the server (its name, command or URL, and the *names* of its
environment variables and headers) without any secret value, so the store can remember the server's tool listing
under it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aether_nb.errors import UsageError, shown
from aether_nb.store.redact import register_secret

DEFAULT_CONNECT_TIMEOUT_S = 30.0
DEFAULT_CALL_TIMEOUT_S = 300.0
"""A call whose server neither answers nor reports progress for this long fails (``mcp_timeout``) instead of
hanging the run; ``call_timeout_s=None`` waits forever."""
_SECRET_NAME = re.compile(r"(?i)(authorization|api[_-]?key|token|secret|password|cookie)")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_KEYS = ("command", "url", "env", "cwd", "headers", "timeout_s", "call_timeout_s", "tool_prefix")


@dataclass(frozen=True)
class ServerSpec:
    """One MCP server: exactly one of ``command`` (stdio) or ``url`` (streamable HTTP).

    Attributes:
        name: what aether_nb calls it; its tools' nodes are named ``<name>.<tool>``.
        command: the program and its arguments, e.g. ``["python", "calc_server.py"]``.
        url: the server's streamable HTTP endpoint, e.g. ``http://127.0.0.1:8000/mcp``.
        env: variables added to the (minimal) environment the command runs with.
        cwd: the command's working directory.
        headers: HTTP headers for ``url`` (an ``Authorization`` header, ...); never stored.
        timeout_s: how long starting the server and the protocol handshake may take.
        call_timeout_s: how long the server may take over one call without answering or reporting progress (each
            progress report starts the count again; time a person takes to answer its questions never counts);
            None: no limit.
        tool_prefix: put in front of each tool's name as models see it (``run_tools``), to tell two servers'
            equally named tools apart.
    """

    name: str
    command: tuple[str, ...] | None = None
    url: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    call_timeout_s: float | None = DEFAULT_CALL_TIMEOUT_S
    tool_prefix: str = ""

    @property
    def transport(self) -> str:
        """``stdio`` or ``http``."""
        return "stdio" if self.command is not None else "http"

    def describe(self) -> str:
        """The command line or URL, for messages (environment and header values left out)."""
        if self.command is not None:
            return shlex.join(self.command)
        return str(self.url)

    @property
    def fingerprint(self) -> str:
        """Identifies the server without secret values: name, command or URL, cwd, env and header names."""
        data = {
            "name": self.name,
            "command": list(self.command) if self.command is not None else None,
            "url": self.url,
            "cwd": self.cwd,
            "env": sorted(self.env),
            "headers": sorted(k.lower() for k in self.headers),
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def check_name(name: Any) -> str:
    """A server name: a letter or ``_`` then letters, digits, ``_`` or ``-`` (it prefixes node names)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise UsageError(
            f"an MCP server name must start with a letter or '_' and hold only letters, digits, '_' and '-', "
            f"got {shown(name)}",
            code="bad_mcp_server",
        )
    return name


def make_spec(name: str, options: Mapping[str, Any]) -> ServerSpec:
    """Check the options of one server (as given to ``connect`` or ``configure(mcp=...)``) and build its spec.

    Raises:
        UsageError: an unknown option, neither or both of ``command`` and ``url``, or a value of the wrong kind.
    """
    check_name(name)
    if not isinstance(options, Mapping):
        raise UsageError(
            f"MCP server {shown(name)}: give its options as a dict, e.g. {{'command': ['python', 'server.py']}} or "
            f"{{'url': 'http://127.0.0.1:8000/mcp'}}; got {shown(options)}",
            code="bad_mcp_server",
        )
    unknown = sorted(set(options) - set(_KEYS))
    if unknown:
        raise UsageError(
            f"MCP server {shown(name)}: unknown option(s) {unknown}; known: {list(_KEYS)}", code="bad_mcp_server"
        )
    command, url = options.get("command"), options.get("url")
    if (command is None) == (url is None):
        raise UsageError(
            f"MCP server {shown(name)}: give exactly one of command=[...] (a program to start, spoken to over stdio) "
            "or url='http://.../mcp' (streamable HTTP)",
            code="bad_mcp_server",
        )
    where = f"MCP server {name!r}"
    spec_command: tuple[str, ...] | None = None
    if command is not None:
        if isinstance(command, str):
            command = shlex.split(command)
        if not isinstance(command, Sequence) or not command or not all(isinstance(c, str) and c for c in command):
            raise UsageError(f"{where}: command must be a non-empty list of strings, got {shown(command)}")
        spec_command = tuple(command)
    if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
        raise UsageError(f"{where}: url must be an http:// or https:// URL, got {shown(url)}")
    env = _str_map(options.get("env"), "env", where)
    headers = _str_map(options.get("headers"), "headers", where)
    if headers and url is None:
        raise UsageError(f"{where}: headers only apply to a url server", code="bad_mcp_server")
    if env and command is None:
        raise UsageError(f"{where}: env only applies to a command server", code="bad_mcp_server")
    cwd = options.get("cwd")
    if cwd is not None:
        if not isinstance(cwd, (str, os.PathLike)) or not os.path.isdir(cwd):
            raise UsageError(f"{where}: cwd must be an existing directory, got {shown(cwd)}")
        cwd = os.fspath(cwd)
    timeout_s = _seconds(options.get("timeout_s", DEFAULT_CONNECT_TIMEOUT_S), "timeout_s", where)
    call_timeout_s = options.get("call_timeout_s", DEFAULT_CALL_TIMEOUT_S)
    if call_timeout_s is not None:
        call_timeout_s = _seconds(call_timeout_s, "call_timeout_s", where)
    prefix = options.get("tool_prefix") or ""
    if not isinstance(prefix, str) or not re.fullmatch(r"[A-Za-z0-9_-]*", prefix):
        raise UsageError(f"{where}: tool_prefix may hold letters, digits, '_' and '-', got {shown(prefix)}")
    for key, value in [*env.items(), *headers.items()]:
        if _SECRET_NAME.search(key):
            register_secret(value)  # never written to the store, the logs or widget state
    return ServerSpec(
        name=name,
        command=spec_command,
        url=url,
        env=env,
        cwd=cwd,
        headers=headers,
        timeout_s=timeout_s,
        call_timeout_s=call_timeout_s,
        tool_prefix=prefix,
    )


def _str_map(value: Any, what: str, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise UsageError(f"{where}: {what} must be a dict of strings, got {shown(value)}")
    return dict(value)


def _seconds(value: Any, what: str, where: str) -> float:
    """``value`` as a number of seconds: finite and positive. NaN compares false with everything, so a bare
    ``value <= 0`` let it through, and every call then timed out at once; infinity is refused too (``None`` is
    the way to say "no limit" where there may be none)."""
    seconds = math.nan
    if not isinstance(value, bool) and isinstance(value, (int, float)):
        try:
            seconds = float(value)
        except OverflowError:  # an int too large for a float
            seconds = math.inf
    if not math.isfinite(seconds) or seconds <= 0:
        none = " (None: no limit)" if what == "call_timeout_s" else ""
        raise UsageError(f"{where}: {what} must be a positive, finite number of seconds{none}, got {shown(value)}")
    return seconds
