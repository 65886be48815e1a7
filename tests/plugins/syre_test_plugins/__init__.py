"""Benchmarks that exist to be broken: loaded by their module path (``benchmark:
syre_test_plugins.faulty``) from ``tests/plugins`` on the PYTHONPATH of the Ray workers."""
