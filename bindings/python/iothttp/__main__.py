"""``python -m iothttp``: the command line (see :mod:`iothttp.cli`)."""

import sys

from .cli import main

sys.exit(main())
