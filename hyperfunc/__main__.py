"""``python -m hyperfunc`` runs the command line."""

import sys

from hyperfunc._cli import main

sys.exit(main())
