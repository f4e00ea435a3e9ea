"""`python -m dcgan ...` (and `torchrun -m dcgan ...`) runs the command line."""

import sys

from dcgan.cli import main

sys.exit(main())
