"""``python -m fastmlp.bench``: the same as ``fastmlp bench``."""

import contextlib
import sys

from . import main

if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
