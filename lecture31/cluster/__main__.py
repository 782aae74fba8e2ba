import sys

from ..demos.clustermeasure import main

if __name__ == "__main__":
    sys.exit(main())
