#!/usr/bin/env python3
"""Summarise a py-spy ``-f raw`` (collapsed stacks) profile: inclusive and self share per function.

python benchmarks/collapsed.py PROFILE.txt [--top 40] [--match lyncready]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]*):?(?P<line>\d*)\)$")


def _name(frame: str) -> str:
    m = FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    file = m["file"]
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{m['func']} ({file})"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("profile")
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--match", default="", help="only functions whose name or file contains this")
    args = p.parse_args()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in Path(args.profile).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_name(f) for f in stack.split(";")]
        for f in set(frames):
            inclusive[f] += n
        own[frames[-1]] += n
    print(f"{total} samples")
    print("inclusive:")
    for f, n in inclusive.most_common():
        if args.match in f:
            print(f"  {100 * n / total:5.1f}%  {f}")
            args.top -= 1
            if args.top <= 0:
                break
    print("self:")
    for f, n in own.most_common(25):
        print(f"  {100 * n / total:5.1f}%  {f}")


if __name__ == "__main__":
    main()
