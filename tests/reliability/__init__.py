"""Reliability and security: faults, restarts, fuzzing, load and secrets (issue 9).

The short versions run in ``make test``; ``make stress`` runs the long ones through
``python -m tests.reliability.stress``. Figures are in ``RELIABILITY.md``.
"""
