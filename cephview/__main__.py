"""``python -m cephview``: the same as the ``cephview`` command."""

import multiprocessing
import sys

from cephview.cli import main

if __name__ == "__main__":  # the fine-tuning worker process imports this module again: run nothing then
    multiprocessing.freeze_support()  # the frozen app (PyInstaller) starts that process through its own executable
    sys.exit(main())
