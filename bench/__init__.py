"""Benchmarks of the suite's own speed and accuracy, run by a person with `make bench`.

Not part of the test suite: the figures depend on the machine, so the targets are judged as
ratios against other clients measured side by side in the same run (bench/README.md).
"""
