"""p2pdist campaigns: grids of `p2pdist` runs on Dask, resumable (see campaign/run.py)."""
