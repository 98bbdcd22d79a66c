"""`python -m adoption_kit`: the same as the `adoption-kit` command."""
import sys

from adoption_kit.cli import main

sys.exit(main())
