#!/usr/bin/env python3
"""Runs a command and prints its wall time in seconds and its peak RSS in MiB, as
`SECONDS MIB` on one line (the command's own output goes to /dev/null).

    python3 scripts/measure.py CMD [ARGS...]
"""

import resource
import subprocess
import sys
import time


def main() -> None:
    start = time.perf_counter()
    done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    # ru_maxrss of the (only) waited-for child, in KiB on Linux.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{elapsed:.3f} {peak:.1f} {done.returncode}")


if __name__ == "__main__":
    main()
