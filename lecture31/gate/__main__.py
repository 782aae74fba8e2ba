import sys
import traceback

# The gate runs from the tree it measures: ``python -m`` puts the working tree first on sys.path,
# so the gate's own modules (and the report and runtime modules they use) are that tree's. An
# edit that breaks one of them must not end in a traceback and exit 1, which means "slower":
# one line, and exit 3, as for a side whose bench cannot import (the head's tree is broken).
try:
    from .cli import main
except Exception as exc:
    frames = traceback.extract_tb(exc.__traceback__)
    if isinstance(exc, SyntaxError) and exc.filename:
        where, what = f"{exc.filename}:{exc.lineno}", exc.msg
    else:
        where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
        what = str(exc)
    print(
        f"python -m lecture31.gate: the gate's own modules cannot import (is the tree it runs"
        f" from broken?): {where}: {type(exc).__name__}: {what}",
        file=sys.stderr,
    )
    sys.exit(3)

if __name__ == "__main__":
    sys.exit(main())
