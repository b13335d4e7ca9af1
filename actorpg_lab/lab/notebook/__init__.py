"""Room ``notebook``: what only matters in Jupyter -- ``show`` (frames formatted for
reading) and one-line logging in a kernel.  Internal: the public names are in
:mod:`actorpg_lab.lab`.
"""
