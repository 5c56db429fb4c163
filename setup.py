"""The compiled search kernel; everything else about the package is in pyproject.toml.

askbot.search._kernel (src/askbot/search/_kernel.c) is exact top-k BM25Okapi with MaxScore
pruning, reading the index's numpy arrays through the buffer protocol. It is optional: where no C
compiler is found the install still succeeds and askbot searches with its numpy implementation
(same results, slower).

askbot.search._chunks (src/askbot/search/_chunks.c) turns passage text into term ids through a
table of whitespace-separated chunks, for builds. Optional too: without it TermIds does the same
in Python (same term ids, slower).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "askbot.search._kernel",
            sources=["src/askbot/search/_kernel.c"],
            # No fused multiply-adds: exact scores must round as numpy's separate operations do.
            extra_compile_args=["-O2", "-ffp-contract=off"],
            optional=True,
        ),
        Extension(
            "askbot.search._chunks",
            sources=["src/askbot/search/_chunks.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
    ]
)
