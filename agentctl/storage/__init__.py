"""Storage edge: the only package that touches locks, fsync and os.replace.

Services ask it for transactions and appends; a PostgreSQL backend (SPEC §12)
would implement the same interfaces (see ``base.py``).
"""
