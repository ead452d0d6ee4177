"""``PYTHONPATH=.:tests python -m attacks DIR``: write the attack batch to DIR."""
import sys

from attacks import main

main(sys.argv[1])
