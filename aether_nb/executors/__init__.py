"""Executors beyond the kernel's own thread pool (the protocol lives in :mod:`aether_nb.runtime.executors`).

``aether_nb.executors.dask`` holds ``ag.DaskExecutor``; each cluster library stays an optional extra, imported only
when its executor is created.
"""
