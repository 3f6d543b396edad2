"""A value a step is given under a credential-named argument is a secret wherever the run's records quote it.

The store masks ``password`` in the step's inputs by its name; the same value in the step's error (a tool raising
``PermissionError(f"... {password}")``), its events or its journal entry was stored in clear."""

from __future__ import annotations

import contextlib
from pathlib import Path

import aether_nb as ag
from aether_nb.store.duckdb import DuckDBStore
from aether_nb.store.redact import MASK, redact_text, register_credential_inputs
from tests.conftest import arun, default_session

SECRET = "Zq9vL2mN8xK4pR7t-cred-inputs"


@ag.tool(outputs=["ok"])
def login(user: str, password: str) -> dict:
    """Log in (fails for ``bad``, quoting the password it was given)."""
    if user == "bad":
        raise PermissionError(f"login failed for {user} with {password}")
    return {"ok": True}


@ag.graph_fn(name="cred_inputs_agent", outputs=["r", "error"])
async def agent(pw: str, *, context: ag.NodeContext) -> dict:
    """Logs in twice; the second call fails and the body goes on."""
    first = await login("ada", pw)
    try:
        await login("bad", pw)
    except PermissionError as exc:
        return {"r": first["ok"], "error": str(exc)}
    return {"r": first["ok"], "error": ""}


def _rows_quoting(store: DuckDBStore, text: str) -> list[str]:
    hits = []
    for (table,) in store.sql("select table_name from information_schema.tables"):
        if table == "runs":  # (the run's own input ``pw`` is not credential-named: stored as given)
            continue
        for row in store.sql(f'select * from "{table}"'):
            if text in repr(row):
                hits.append(f"{table}: {row!r}"[:300])
    return hits


def test_a_password_quoted_by_a_steps_error_is_masked_in_every_record(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "cred.duckdb")
    with default_session(store) as session:

        async def main() -> ag.Run:
            run: ag.Run = agent.start(SECRET)
            await run
            return run

        run = arun(main())
        assert run.outputs["error"] == f"login failed for bad with {SECRET}"  # (the body sees its own error as is)
        session.flush()
        store.flush()  # (the history applied to the tables)
        hits = _rows_quoting(store, SECRET)
        assert hits == [], hits
        errors = [
            row for row in store.sql("select error from nodes where name = 'login'") if row[0] not in (None, "null")
        ]
        assert errors and MASK in repr(errors), errors  # the error is stored, the password masked in it
    store.close()


def test_short_or_plain_values_under_credential_names_mask_nothing_else() -> None:
    register_credential_inputs({"password": "1234", "pin": "123456", "api_key": "true", "token_count": "Kq8ZZ-long"})
    text = "1234 items, 123456 rows, true, Kq8ZZ-long"
    assert redact_text(text) == text  # (too short, a number, a boolean; token_count names no credential)
    register_credential_inputs(
        {"credentials": {"user": "bob", "secret": "Pw7-inner-value"}, "api_keys": ["K3y-list-1"]}
    )
    assert redact_text('{"msg": "got Pw7-inner-value and K3y-list-1"}') == f'{{"msg": "got {MASK} and {MASK}"}}'


RUN_SECRET = "Wq8runInputSecret77-cred"


@ag.graph_fn(name="cred_inputs_run", outputs=["r"])
async def guarded(password: str, *, context: ag.NodeContext) -> dict:
    """Fails quoting the password the run was started with."""
    raise PermissionError(f"bad password {password}")


def test_a_password_a_run_is_started_with_is_masked_in_its_error(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "run.duckdb")
    with default_session(store) as session:

        async def main() -> ag.Run:
            run: ag.Run = guarded.start(password=RUN_SECRET)
            with contextlib.suppress(ag.RunFailed):
                await run
            return run

        arun(main())
        session.flush()
        store.flush()
        hits = [f"{t}: {row!r}"[:300] for t in ("runs", "events") for row in store.sql(f"select * from {t}")]
        assert hits and not [h for h in hits if RUN_SECRET in h], hits
    store.close()
