"""Running images: core modules (``run.py``) and, later, components."""
