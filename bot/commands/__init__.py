"""The chat commands: declared once (``spec.py``, ``catalog.py``), answered once
(``registry.py``), one module per feature."""
