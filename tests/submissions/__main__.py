import sys

from tests.submissions import main

main(sys.argv[1] if len(sys.argv) > 1 else "class")
