"""`python -m zoo.distributed ...` is `zoo distributed ...` (`zoo.cli.torchrun`): the spelling
the torchrun commands had before they joined the zoo command line."""

import sys

from zoo.cli import main

sys.exit(main(["distributed", *sys.argv[1:]]))
