"""Room ``frames``: the read model -- the journal, tag, snapshot, durable-state and stream
frames, the one filter their keywords parse into, streaming iteration, Parquet export and
Dask.  Internal: the public names are in :mod:`actorpg_lab.lab`.
"""
