"""hfcache as one file, ``hfcache.pyz``, for servers that have Python and nothing else.

* :mod:`hfcache.pyz.build` writes it (``python tools/build_pyz.py``), with pip and ``zipapp``;
  :mod:`hfcache.pyz.stage` gathers the libraries, :mod:`hfcache.pyz.policy` decides per library
  what happens to its compiled code.
* :mod:`hfcache.pyz.boot` is its ``__main__.py``: it unpacks the libraries once into a
  per-user cache folder and runs the CLI.
* :mod:`hfcache.pyz.info` reads what a pyz says about itself; :mod:`hfcache.pyz.carry` copies
  one beside a bundle (``hfcache pack --with-hfcache``).
"""
