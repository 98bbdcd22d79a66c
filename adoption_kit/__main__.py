"""`python -m adoption_kit`: the same as the `adoption-kit` command."""
import sys

try:
    from adoption_kit.cli import main
except KeyboardInterrupt:   # Ctrl-C while Python starts: nothing was read or written yet
    sys.exit(130)

sys.exit(main())
