"""The runtime: pure asyncio. Imports no IPython, ipywidgets, duckdb or openai (a test pins this)."""
