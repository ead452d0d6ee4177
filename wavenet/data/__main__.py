"""``python -m wavenet.data [--from PATH]``: obtain and verify data/names.txt."""
import argparse
import sys

from wavenet.data.names import NamesError, ensure_names, read_words


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m wavenet.data", description=__doc__)
    p.add_argument("--from", dest="path", help="a local copy of names.txt to use")
    args = p.parse_args(argv)
    try:
        dest = ensure_names(args.path)
    except NamesError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{dest}: {len(read_words(dest)):,} names, sha256 verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
