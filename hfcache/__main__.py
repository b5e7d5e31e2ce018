"""Allow ``python -m hfcache``."""

from hfcache.cli import main

if __name__ == "__main__":
    main()
