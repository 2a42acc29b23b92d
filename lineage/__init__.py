"""python -m lineage: what ML Metadata knows about a model version, a data
path or a served request, as a tree or as JSON (see __main__.py)."""
