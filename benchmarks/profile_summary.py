"""Summarise py-spy collapsed stacks (`-f raw`): where the worker's samples go,
by own time and by inclusive time of our code and the libraries on its path."""

import sys
from collections import Counter


def summarise(path: str, top: int = 30) -> str:
    own, inclusive, total = Counter(), Counter(), 0
    for line in open(path):
        stack, _, count = line.rstrip().rpartition(" ")
        frames, n = stack.split(";"), int(count)
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    lines = [f"{total} samples", "", "own time:"]
    lines += [f"{100 * n / total:5.1f}%  {f[:140]}" for f, n in own.most_common(top)]
    lines += ["", "inclusive (excluding the event loop itself):"]
    shown = [(f, n) for f, n in inclusive.most_common() if "asyncio/" not in f and "runpy" not in f]
    lines += [f"{100 * n / total:5.1f}%  {f[:140]}" for f, n in shown[:top]]
    return "\n".join(lines)


if __name__ == "__main__":
    print(summarise(sys.argv[1]))
