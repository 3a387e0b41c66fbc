"""``python -m tailor.cli``: the ``tailor`` command line."""

from tailor.cli import main

if __name__ == "__main__":
    main()
