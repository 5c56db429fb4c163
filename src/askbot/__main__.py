"""`python -m askbot` runs the askbot command."""

import sys

from askbot.cli import main

sys.exit(main())
