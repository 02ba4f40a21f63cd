"""``python -m cephview``: the same as the ``cephview`` command."""

import sys

from cephview.cli import main

sys.exit(main())
