"""The trace model and the exact analysis rules: pure Python, no HTTP, no pictures.

- :mod:`.documents` reads any trace document shape into raw steps;
- :mod:`.formats` converts Genesys execution-history downloads and data action tests;
- :mod:`.analysis` applies ``spec/analysis.md`` (cleaning, self time, critical path);
- :mod:`.model` holds :class:`~.model.Trace` and saving/loading;
- :mod:`.frames` turns an analysis into polars frames;
- :mod:`.summary` words an analysis for terminals and notebooks.
"""
