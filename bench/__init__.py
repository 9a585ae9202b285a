"""Benchmarks (not tests): ``python -m bench <suite>`` or ``python bench/run.py <suite>``.

Each suite is a module with ``main(argv) -> int``, registered in ``bench.__main__.SUITES``.
"""
