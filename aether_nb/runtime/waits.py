"""Waits: a run pausing until someone (or something) answers.

Every wait has its own token, so two asks in flight in one node never collide. A wait is persisted before its
prompt is shown, carries an absolute deadline that is enforced, and validates every answer before consuming it:
an answer that does not fit raises :class:`~aether_nb.errors.InvalidAnswer` and leaves the wait open.

Two ways to wait, one mechanism underneath:

* cooperative: ``await context.channel().ask_text(...)`` inside a graph_fn or tool;
* dual-stage: a :class:`DualStageTool` whose ``setup`` returns a :class:`WaitSpec` and whose ``on_resume``
  turns the answer into outputs. Its setup is journaled, so it does not run again after a kernel restart.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Never

from aether_nb.errors import InvalidAnswer, UsageError, shown
from aether_nb.runtime.checks import check_depth, check_text, nesting_problem
from aether_nb.runtime.json_schema import BAD_SCHEMA, checked_validator, validation_errors
from aether_nb.store.records import FINISHED_RUN_STATUSES, JSON, WaitRecord

if TYPE_CHECKING:
    from aether_nb.store.protocol import Store

WAIT_STATUS_BY_KIND: dict[str, str] = {
    "text": "WAITING_HUMAN",
    "choice": "WAITING_HUMAN",
    "approval": "WAITING_HUMAN",
    "files": "WAITING_HUMAN",
    "human": "WAITING_HUMAN",
    "external": "WAITING_EXTERNAL",
    "time": "WAITING_TIME",
    "event": "WAITING_EVENT",
}
"""The node status a wait of each kind puts its node in (unknown kinds count as external)."""

DEFAULT_APPROVAL_OPTIONS = ("Approve", "Reject")


def positive_seconds(value: Any) -> float | None:
    """``value`` as a positive, finite number of seconds (a float), or None when it is not one: not a number, a
    bool, NaN, an infinity, zero or less, or an int too large for a float (``10**400``, where ``math.isfinite``
    raised a bare OverflowError at the caller)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        seconds = float(value)
    except OverflowError:
        return None
    return seconds if 0 < seconds < math.inf else None


@dataclass(frozen=True, init=False)
class WaitSpec:
    """What a wait asks for. Returned by ``DualStageTool.setup`` (or a dict of these keys) or built by the
    channel's ``ask_*``.

    Args:
        kind: ``text``, ``choice``, ``approval``, ``files``, ``human``, ``external``, ``time`` or ``event``.
        prompt: the question shown to the person (None for machine waits).
        options: allowed answers for ``choice``/``approval`` (``approval`` defaults to Approve/Reject).
        schema: a JSON Schema the (normalised) answer must satisfy.
        timeout_s: seconds until the deadline; None waits indefinitely.
        meta: anything extra the channel should see (e.g. ``{"accept": [".csv"]}`` for files).
        resume_schema: AetherGraph's name for ``schema`` (its ``WaitSpec`` field), so its setups port unchanged.

    Raises:
        UsageError: a value does not fit, or a key is none of these (a setup's dict is spread into it: Python's
            own "unexpected keyword argument" named neither the keys that exist nor the run's node).
    """

    kind: str
    prompt: str | None
    options: tuple[str, ...] | list[str] | None
    schema: dict[str, Any] | None
    timeout_s: float | None
    meta: dict[str, Any]

    def __init__(
        self,
        kind: str = "external",
        prompt: str | None = None,
        options: tuple[str, ...] | list[str] | None = None,
        schema: dict[str, Any] | None = None,
        timeout_s: float | None = None,
        meta: dict[str, Any] | None = None,
        *,
        resume_schema: dict[str, Any] | None = None,
        **unknown: Never,
    ) -> None:
        if unknown:
            raise UsageError(_unknown_keys(sorted(unknown)), code="bad_wait_spec")
        if resume_schema is not None:
            if schema is not None:
                raise UsageError(
                    "WaitSpec: give schema= or resume_schema= (AetherGraph's name for it), not both",
                    code="bad_wait_spec",
                )
            schema = resume_schema
        for name, value in (
            ("kind", kind),
            ("prompt", prompt),
            ("options", options),
            ("schema", schema),
            ("timeout_s", timeout_s),
            ("meta", {} if meta is None else meta),
        ):
            object.__setattr__(self, name, value)  # (frozen: set once, here)
        self.__post_init__()

    def __post_init__(self) -> None:
        check_text(self.kind, "WaitSpec.kind", max_len=64)
        if self.prompt is not None:
            check_text(self.prompt, "WaitSpec.prompt", max_len=100_000, empty=True)
        if self.options is not None:
            if not isinstance(self.options, (list, tuple)):
                raise UsageError(f"WaitSpec.options must be a list of strings, got {shown(self.options)}")
            opts = [check_text(o, "a WaitSpec option", max_len=1000) for o in self.options]
            if not opts:
                raise UsageError("WaitSpec.options must be a non-empty list of strings")
            if len(set(opts)) != len(opts):
                raise UsageError(f"WaitSpec.options has duplicates: {shown(opts)}")
        if self.timeout_s is not None and positive_seconds(self.timeout_s) is None:
            raise UsageError(f"WaitSpec.timeout_s must be a positive number of seconds, got {shown(self.timeout_s)}")
        if self.schema is not None:
            _check_schema(self.schema)
        if not isinstance(self.meta, dict):
            raise UsageError(f"WaitSpec.meta must be a dict, got {shown(self.meta)}")
        check_depth(self.meta, "WaitSpec.meta", limit=20)

    @property
    def node_status(self) -> str:
        return WAIT_STATUS_BY_KIND.get(self.kind, "WAITING_EXTERNAL")

    def effective_options(self) -> list[str] | None:
        """The options offered: the given ones, else for a choice or an approval the ``choice`` enum of its
        schema (a schema saying ``{"choice": {"enum": ["yes", "no"]}}`` offers yes and no), else for an approval
        Approve / Reject."""
        if self.options is not None:
            return list(self.options)
        enum = _choice_enum(self.schema) if self.kind in ("choice", "approval") else None
        if enum is not None:
            return enum
        if self.kind == "approval":
            return list(DEFAULT_APPROVAL_OPTIONS)
        return None


_AETHERGRAPH_KEYS = {
    "deadline": "timeout_s= (seconds from now)",
    "channel": "the run's channel (context.channel(key) in the tool's body)",
}
"""Keys of AetherGraph's WaitSpec that have no field of the same name here, and what to write instead."""


def _unknown_keys(names: list[str]) -> str:
    accepted = "kind, prompt, options, schema (or resume_schema), timeout_s, meta"
    hints = "; ".join(f"for {n}= use {_AETHERGRAPH_KEYS[n]}" for n in names if n in _AETHERGRAPH_KEYS)
    return f"WaitSpec got unknown key(s) {names}: the keys are {accepted}" + (f" ({hints})" if hints else "")


def _choice_enum(schema: Any) -> list[str] | None:
    """The strings a JSON Schema allows for the property ``choice`` (its ``enum``), when it lists only strings."""
    props = schema.get("properties") if isinstance(schema, dict) else None
    choice = props.get("choice") if isinstance(props, dict) else None
    enum = choice.get("enum") if isinstance(choice, dict) else None
    if isinstance(enum, list) and enum and all(type(e) is str for e in enum):
        return list(enum)
    return None


def spec_to_json(spec: WaitSpec) -> dict[str, Any]:
    """A WaitSpec as JSON (a DualStageTool's setup result is journaled in this form)."""
    data = asdict(spec)
    data["options"] = None if spec.options is None else list(spec.options)
    return data


@dataclass(frozen=True)
class Wait:
    """A pending wait as users see it in ``run.waits`` (the token is kept out of the repr, and so out of
    saved notebook outputs; read ``wait.token`` when you need it)."""

    token: str = field(repr=False)
    kind: str
    prompt: str | None
    options: list[str] | None
    node_id: str
    run_id: str
    deadline: float | None = None
    schema: JSON = None
    meta: JSON = None

    @classmethod
    def from_record(cls, rec: WaitRecord) -> Wait:
        return cls(
            token=rec.token,
            kind=rec.kind,
            prompt=rec.prompt,
            options=rec.options,
            node_id=rec.node_id,
            run_id=rec.run_id,
            deadline=rec.deadline,
            schema=rec.schema,
            meta=rec.meta,
        )


def _check_schema(schema: dict[str, Any]) -> None:
    """A wait's schema, checked when the wait is asked: the wait is stored with it, and every answer is checked
    against it. A schema that contains itself could not be stored (the wait was shown, then dropped with its
    history batch: gone after a restart), and a ``$ref`` that points nowhere failed each answer with jsonschema's
    own error (the run waited on a question no answer could pass)."""
    if not isinstance(schema, dict):
        raise UsageError(f"WaitSpec.schema must be a JSON Schema (a dict), got {shown(schema)}", code=BAD_SCHEMA)
    checked_validator(schema, "WaitSpec.schema", limit=50)


def _match_option(value: Any, options: list[str], *, what: str) -> int:
    if isinstance(value, bool):
        raise InvalidAnswer(f"{what}: expected one of {options} (or its index), got {shown(value)}")
    if isinstance(value, int):
        if 0 <= value < len(options):
            return value
        raise InvalidAnswer(f"{what}: index {value} is out of range; choose 0..{len(options) - 1} of {options}")
    if isinstance(value, str):
        if value in options:
            return options.index(value)
        folded = [o.casefold() for o in options]
        if value.strip().casefold() in folded:
            return folded.index(value.strip().casefold())
    raise InvalidAnswer(f"{what}: {shown(value)} is not one of {options}")


def _file_problem(f: dict[str, Any]) -> str | None:
    """What is wrong with one uploaded file's record (None: nothing), as an answer to a ``files`` wait."""
    size = f["size"]
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        return f"has size {shown(size)}, not a whole number of bytes"
    for key in ("name", "mime"):
        if not isinstance(f[key], str) or not f[key].strip():
            return f"has {key} {shown(f[key])}, not a non-empty string"
    if not isinstance(f["artifact_uri"], str) or not f["artifact_uri"].startswith("artifact://"):
        return f"has artifact_uri {shown(f['artifact_uri'])}, not an artifact:// URI"
    return None


def normalise_answer(rec: WaitRecord, payload: Any) -> Any:
    """Validate an answer for a wait and return the canonical value the waiting code receives.

    * ``text``: a string (or ``{"text": str}``).
    * ``choice``: an option or its index -> ``{"choice": str, "index": int}``.
    * ``approval``: True/False, an option or its index -> ``{"approved": bool, "choice": str, "index": int}``
      (approved means the first option).
    * ``files``: a list of ``{"name", "size", "mime", "artifact_uri"}`` dicts.
    * anything else: any JSON value; checked against ``options`` and ``schema`` when given.

    Raises:
        InvalidAnswer: the payload does not fit; the message lists what would.
    """
    what = f"answer to {rec.kind} wait {rec.node_id!r}"
    problem = nesting_problem(payload, limit=100)
    if problem is not None:
        says = "contains itself at" if problem.cycle else "nests too deep at"
        raise InvalidAnswer(f"{what}: the answer {says} {problem}; answer with plainer data")
    options = rec.options
    value: Any
    if rec.kind == "text":
        if isinstance(payload, dict) and set(payload) == {"text"}:
            payload = payload["text"]
        if not isinstance(payload, str):
            raise InvalidAnswer(f"{what}: expected a string, got {type(payload).__name__}")
        value = payload
    elif rec.kind in ("choice", "approval"):
        opts = list(options or DEFAULT_APPROVAL_OPTIONS)
        extra: dict[str, Any] = {}  # what a dict answer says besides its pick (a reason): the schema checks it
        if isinstance(payload, dict):
            extra = {k: v for k, v in payload.items() if k not in ("choice", "index", "approved")}
            if "choice" in payload:
                payload = payload["choice"]
            elif "index" in payload:
                payload = payload["index"]
            elif rec.kind == "approval" and "approved" in payload:
                payload = payload["approved"]
            elif extra:
                raise InvalidAnswer(f"{what}: say which option: {{'choice': one of {opts}, ...}}")
        if rec.kind == "approval" and isinstance(payload, bool):
            index = 0 if payload else (1 if len(opts) > 1 else 0)
            if not payload and len(opts) < 2:
                raise InvalidAnswer(f"{what}: there is no rejecting option among {opts}")
        else:
            index = _match_option(payload, opts, what=what)
        value = {**extra, "choice": opts[index], "index": index}
        if rec.kind == "approval":
            value = {"approved": index == 0, **value}
    elif rec.kind == "files":
        if not isinstance(payload, list) or not all(
            isinstance(f, dict) and {"name", "size", "mime", "artifact_uri"} <= set(f) for f in payload
        ):
            raise InvalidAnswer(
                f"{what}: expected a list of uploaded files ({{name, size, mime, artifact_uri}}); "
                "pass file paths to run.answer() and the channel stores them as artifacts"
            )
        for f in payload:  # (a FileRef with size=-5 or NaN reached the agent as it was)
            bad = _file_problem(f)
            if bad is not None:
                raise InvalidAnswer(
                    f"{what}: file {shown(f.get('name'))} {bad}; pass file paths to run.answer() and the channel "
                    "stores them as artifacts"
                )
        value = payload
    else:
        if options is not None and payload not in options:
            raise InvalidAnswer(f"{what}: {shown(payload)} is not one of {options}")
        value = payload
    if rec.schema is not None:
        _check_answer(value, rec.schema, what)
    return value


def _check_answer(value: Any, schema: Any, what: str) -> None:
    """``value`` against a wait's schema, or :class:`InvalidAnswer` with the most relevant problem (as
    ``jsonschema.validate`` picks it). A schema that cannot check it (one stored before schemas' refs were checked
    when asked) is said as such, not as jsonschema's own error."""
    import jsonschema

    try:
        errors = validation_errors(checked_validator(schema, "the wait's schema"), value)
    except UsageError as exc:
        raise InvalidAnswer(
            f"{what}: {exc.message}. Answers cannot be checked against it: cancel the run (run.cancel()) and ask "
            "with a fixed schema"
        ) from None
    if errors:
        raise InvalidAnswer(f"{what}: {jsonschema.exceptions.best_match(errors).message}")


def only_wait(open_waits: list[Wait], run_id: str, status: str, store: Store) -> Wait:
    """The wait ``run.answer(payload)`` answers when it is given no token: the run's only open wait.

    Raises:
        UsageError: the run has no open wait (the message says what became of its last one, and what to do), or
            several (the message lists them with their tokens).
    """
    if not open_waits:
        raise UsageError(
            f"run {run_id} has no open wait to answer: {_nothing_open(run_id, status, store)}",
            run_id=run_id,
            code="no_open_wait",
        )
    if len(open_waits) > 1:
        listing = "; ".join(f"{w.node_id}: {w.prompt!r} token={w.token}" for w in open_waits)
        raise UsageError(
            f"run {run_id} has {len(open_waits)} open waits; pass token=... to say which ({listing})",
            run_id=run_id,
            code="ambiguous_wait",
        )
    return open_waits[0]


def _nothing_open(run_id: str, status: str, store: Store) -> str:
    """Why a run has no wait to answer. Its status alone misleads: a second answer racing the first sees the run
    still ``waiting`` (it has not taken the answer yet), so the status is only said once the run has ended."""
    if status in FINISHED_RUN_STATUSES:
        return f"it has ended ({status}); `await run` gives its outcome"
    closed = [w for w in store.list_waits(run_id, status=None) if w.status != "open"]
    if closed:
        return closed_wait(max(closed, key=lambda w: w.created_at))
    return "it has not asked anything yet; `await run.wait_for('waiting')` waits until it asks, then answer"


def closed_wait(rec: WaitRecord) -> str:
    """What became of a wait that is no longer open, and what to do instead of answering it (for the error an
    answer to it gets; a concurrent answer usually lost the race to another one)."""
    asked = f"its question {shown(rec.prompt)} ({rec.node_id})" if rec.prompt else f"its {rec.kind} wait {rec.node_id}"
    secret = isinstance(rec.meta, dict) and rec.meta.get("secret_answer")
    if rec.status == "answered" or secret:
        return (
            f"{asked} was already answered, and the run goes on with that answer: `await run` for its outputs, "
            "`run.waits` for what it asks next"
        )
    if rec.status == "expired":
        return f"{asked} passed its deadline (the run got a WaitTimeout): `await run` for its outcome"
    if rec.status == "cancelled":
        return f"{asked} was cancelled when the run was stopped; start a new run to ask it again"
    return f"{asked} was closed when the run ended: `await run` for its outcome"
