"""``python -m accel.measure ...``: same as ``accel measure`` (needs only torch, not the rest of accel)."""

import sys

from accel.cli.measure import main

sys.exit(main())
