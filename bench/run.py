"""``python bench/run.py <suite> [options]``: the same as ``python -m bench``, from a path."""

import sys
from pathlib import Path

# Python put this script's folder first on the path; the repository root goes there
# instead, or bench/graphql.py would shadow the graphql package.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.__main__ import main  # noqa: E402  (after the path fix above)

if __name__ == "__main__":
    sys.exit(main())
