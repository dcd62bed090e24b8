"""Peer comparison: fastmlp against the numpy reference, PyTorch, JAX and
scikit-learn on the xor, line and wide workloads, in one process.

A thin wrapper around ``fastmlp.bench`` (also ``fastmlp bench`` and
``python -m fastmlp.bench``); every option is passed through::

    python bench/compare.py --quick
    python bench/compare.py --workloads wide --json wide.json
"""

import sys

from fastmlp.bench import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
