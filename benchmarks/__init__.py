"""End-to-end benchmarks: motia-client against the official clients and the raw limit.

Run ``python -m benchmarks --help`` (``make bench`` runs the full matrix). See
``benchmarks/README.md``.
"""
