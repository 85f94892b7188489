"""``python -m race``: see race.cli."""

import sys

from race.cli import main

sys.exit(main())
