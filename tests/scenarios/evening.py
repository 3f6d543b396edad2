"""A person's evening in a notebook, as cells: an interactive agent with MCP tools promoted to a static graph, a
tool changed between runs, an MCP tool that fails and one that asks back, artifacts/memory/KV, the store looked at
with SQL, an API key passed around, ``durability="sync"``, and a kernel restart while a graphify node waits.

Run by ``tests/kernel/test_evening.py`` (a real kernel through nbclient, answering from code) and by
``tests/browser/test_evening.py`` (JupyterLab, answering in the widgets). The cells are what a person types;
the tests only choose how the questions are answered.
"""

from __future__ import annotations

KEY = "wk-live-7f3a9c2e5b1d4a8f9e0c"  # an API-key-like value, set as WEATHER_API_KEY in the kernel

SERVER = """\
%%writefile rates_server.py
import json
from pydantic import BaseModel
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("rates")

def log(event, **kw):
    with open("server_calls.jsonl", "a") as f:
        f.write(json.dumps({"event": event, **kw}) + "\\n")

RATES = {("USD", "EUR"): 0.92, ("USD", "NOK"): 10.7}

class Rate(BaseModel):
    rate: float
    pair: str

@server.tool()
def rate(base: str, quote: str) -> Rate:
    '''Exchange rate from one currency to another.'''
    log("call", tool="rate", base=base, quote=quote)
    if (base, quote) not in RATES:
        raise ToolError(f"no rate for {base}/{quote}")
    return Rate(rate=RATES[(base, quote)], pair=f"{base}/{quote}")

class Party(BaseModel):
    people: int

@server.tool()
async def reserve(restaurant: str, ctx: Context) -> str:
    '''Reserve a table; asks how many people.'''
    log("call", tool="reserve", restaurant=restaurant)
    answer = await ctx.elicit(f"How many people at {restaurant}?", Party)
    if answer.action != "accept":
        return "not reserved"
    return f"table for {answer.data.people} at {restaurant}"

if __name__ == "__main__":
    server.run()
"""

SETUP = f'''\
%load_ext aether_nb
import json, os, struct, zlib
from pathlib import Path
import aether_nb as ag
from aether_nb.tools import ask_approval, read_env

os.environ["WEATHER_API_KEY"] = "{KEY}"   # in real life: set in the shell
ag.configure(durability="sync")

EFFECTS = Path("effects.txt")
def effect(line):
    with EFFECTS.open("a") as f:
        f.write(line + "\\n")

@ag.tool(outputs=["forecast"])
def forecast(city: str, api_key: str) -> dict:
    """Tomorrow's weather (a paid API: needs the key)."""
    effect(f"forecast {{city}}")
    return {{"forecast": f"{{city}}: 12 C, drizzle"}}

@ag.tool(outputs=["amount"])
def convert(usd: float, rate: float) -> dict:
    effect(f"convert {{usd}}")
    return {{"amount": round(usd * rate, 2)}}

@ag.tool(outputs=["plan"])
def plan_day(city: str, forecast: str, budget: float, mood: str) -> dict:
    effect(f"plan {{city}}")
    return {{"plan": f"a {{mood}} day in {{city}} ({{forecast}}), {{budget}} EUR to spend"}}

@ag.tool(outputs=["booking"])
def book(city: str, forecast: str) -> dict:
    effect(f"book {{city}}")
    return {{"booking": f"booked {{city}} ({{forecast}})"}}

@ag.graphify(name="trip", inputs=["city"], outputs=["booking", "approved"])
def trip(city):
    key = read_env(name="WEATHER_API_KEY")
    f = forecast(city=city, api_key=key.value)
    ok = ask_approval(prompt="Book the trip? The forecast is in the DAG.", _after=[f])
    b = book(city=city, forecast=f.forecast, _condition={{"op": "eq", "left": ok.approved, "right": True}})
    return {{"booking": b.booking, "approved": ok.approved}}
'''

AGENT = """\
rates = await ag.mcp.connect("rates", command=["python", "rates_server.py"])

@ag.graph_fn(name="city_day", outputs=["plan", "budget"])
async def city_day(city: str, usd: float, *, context: ag.NodeContext):
    ch = context.channel()
    w = await forecast(city, os.environ["WEATHER_API_KEY"])
    r = await rates.tools["rate"](base="USD", quote="EUR")
    money = await convert(usd, r["rate"])
    mood = await ch.ask_text(f"Forecast: {w['forecast']}. What mood for the day?")
    p = await plan_day(city, w["forecast"], money["amount"], mood)
    await ch.send_markdown(f"**Plan**: {p['plan']}")
    return {"plan": p["plan"], "budget": money["amount"]}

sorted(rates.tools)
"""

START = """\
run = city_day.start(city="Oslo", usd=200.0, run_id="oslo-day")
await run.wait_for("waiting", timeout=60)
run
"""

RESULT = """\
print("RESULT", json.dumps(await run))
"""

PROMOTE = """\
source = run.promote("city_day_static")
print(source)
"""

PROMOTED = """\
exec(source)
print("PROMOTED", json.dumps(await city_day_static(city="Oslo", usd=200.0)))
"""

REDEFINE = """\
@ag.tool(outputs=["forecast"])
def forecast(city: str, api_key: str) -> dict:
    \"\"\"Tomorrow's weather, now in Fahrenheit.\"\"\"
    effect(f"forecast-v2 {city}")
    return {"forecast": f"{city}: 54 F, drizzle"}

print(next(line for line in run.promote("city_day_v2").splitlines() if "redefined" in line))
"""

FAILING = """\
@ag.graph_fn(name="fx", outputs=["rate"])
async def fx(quote: str, *, context: ag.NodeContext):
    r = await rates.tools["rate"](base="USD", quote=quote)
    return {"rate": r["rate"]}

bad = fx.start(quote="JPY", run_id="fx-jpy")
print("FX", await bad.wait_for("failed", timeout=60))
bad
"""

DINNER = """\
@ag.graph_fn(name="dinner", outputs=["table"])
async def dinner(place: str, *, context: ag.NodeContext):
    out = await rates.tools["reserve"](restaurant=place)
    return {"table": out["result"]}

d = dinner.start(place="Maaemo", run_id="dinner-maaemo")
await d.wait_for("waiting", timeout=60)
d
"""

DINNER_RESULT = """\
print("DINNER", json.dumps(await d))
"""

KEEPER = """\
def png(w=48, h=24):
    rows = b"".join(b"\\x00" + bytes((30, 136, 229)) * w for _ in range(h))
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    head = chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    return b"\\x89PNG\\r\\n\\x1a\\n" + head + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")

@ag.graph_fn(name="keeper", outputs=["uri", "hits", "visits", "listed"])
async def keeper(topic: str, *, context: ag.NodeContext):
    arts = context.artifacts()
    chart = await arts.save_bytes(png(), mime="image/png", name="chart.png", labels={"topic": topic})
    await arts.pin(chart.uri)
    await arts.save_text(f"notes on {topic}; key={os.environ['WEATHER_API_KEY']}", name="notes.txt")
    await context.channel().send_image(png(), alt="budget chart", name="chart.png")
    mem = context.memory()
    await mem.record("note", {"text": f"{topic} trip was rainy"}, tags=["trip"])
    await mem.record("note", {"text": "Bergen is rainier than Oslo"}, tags=["trip"])
    hits = await mem.search("rainy Oslo", limit=2)
    kv = context.kv()
    visits = await kv.get("visits", default=0) + 1
    await kv.set("visits", visits)
    await kv.set("weather_token", os.environ["WEATHER_API_KEY"])
    listed = await arts.list(labels={"topic": topic}, pinned=True)
    return {"uri": chart.uri, "hits": [h.text for h in hits], "visits": visits, "listed": [a.name for a in listed]}

k = await keeper(topic="Oslo")
print("KEEPER", json.dumps(k))
"""

SQL = """\
s = ag.store()
print(s.sql("select run_id, graph, status from runs order by created_at"))
print(s.sql("select node_id, name, status from nodes where run_id = 'oslo-day' order by node_id"))
print(s.sql("select key, name, kind from journal where run_id = 'oslo-day' order by seq"))
print(s.sql("select kind, text from memory where kind = 'chat' order by created_at"))
print(s.sql("select name, pinned, labels from artifacts order by name"))
leaks = []
for (table,) in s.sql("select table_name from information_schema.tables").rows:
    for (column,) in s.sql(f"select column_name from information_schema.columns where table_name = '{table}'").rows:
        n = s.sql(f"select count(*) from {table} where cast({column} as varchar) like ?", ["%wk-live%"]).rows[0][0]
        if n:
            leaks.append(f"{table}.{column}")
print("LEAKS", json.dumps(leaks))
"""

TRIP = """\
t = trip.start(city="Bergen", run_id="trip-bergen")
await t.wait_for("waiting", timeout=60)
t
"""

REATTACH = """\
%aether runs
"""

RESUME = """\
t = ag.get_run("trip-bergen")
t
"""

TRIP_RESULT = """\
print("TRIP", json.dumps(await t))
print("EFFECTS", json.dumps(sorted(EFFECTS.read_text().splitlines())))
calls = [json.loads(x) for x in Path("server_calls.jsonl").read_text().splitlines()]
print("SERVER", json.dumps([(c["tool"], c.get("quote") or c.get("restaurant")) for c in calls]))
"""

CELLS = [
    SERVER,
    SETUP,
    AGENT,
    START,
    RESULT,
    PROMOTE,
    PROMOTED,
    REDEFINE,
    FAILING,
    DINNER,
    DINNER_RESULT,
    KEEPER,
    SQL,
    TRIP,
]
"""Cells before the restart; after it: SETUP again, REATTACH, RESUME, (answer), TRIP_RESULT."""
