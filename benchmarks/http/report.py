"""The results of `make bench-http`: medians per target and concurrency, the booking
rate as a ratio of each baseline, a plain table and a markdown one."""

import statistics
from collections import Counter

MEASURES = ("rps", "p50_ms", "p90_ms", "p99_ms", "max_ms")
TARGETS = {"system": "gateway + worker", "stand-in": "(a) gateway + stand-in worker",
           "minimal": "(b) minimal app, same server stack"}
COLUMNS = ("target", "c", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "statuses", "socket errors", "runs ok",
           "system/(a)", "system/(b)")


def summarise(runs: list[dict]) -> dict:
    """Medians over every run (failed ones included: they are marked, not dropped)."""
    statuses: Counter = Counter()
    errors: Counter = Counter()
    for run in runs:
        statuses.update(run["statuses"])
        errors.update(run["errors"])
    summary = {key: round(statistics.median(run[key] for run in runs), 2) for key in MEASURES}
    summary["cpu_pct"] = {part: round(statistics.median(run["cpu_pct"][part] for run in runs), 1)
                          for part in runs[0]["cpu_pct"]}
    summary.update(statuses=dict(statuses), errors=sum(errors.values()), runs=len(runs),
                   runs_ok=sum(run["ok"] for run in runs))
    return summary


def medians(runs: list[dict]) -> dict[str, dict[str, dict]]:
    """{target: {connections: summary}} over the measured runs."""
    grouped: dict[str, dict[str, list[dict]]] = {}
    for run in runs:
        grouped.setdefault(run["target"], {}).setdefault(str(run["connections"]), []).append(run)
    return {target: {c: summarise(rs) for c, rs in by_c.items()} for target, by_c in grouped.items()}


def ratios(summaries: dict[str, dict[str, dict]]) -> dict[str, dict[str, float]]:
    """The system's median booking rate over each baseline's, per concurrency."""
    found: dict[str, dict[str, float]] = {}
    for baseline in ("stand-in", "minimal"):
        for c, summary in summaries.get("system", {}).items():
            base = summaries.get(baseline, {}).get(c)
            if base and base["rps"]:
                found.setdefault(baseline, {})[c] = round(summary["rps"] / base["rps"], 3)
    return found


def rows(summaries: dict[str, dict[str, dict]], found: dict[str, dict[str, float]]) -> list[list[str]]:
    table = []
    for target in TARGETS:
        for c, s in summaries.get(target, {}).items():
            statuses = " ".join(f"{code}:{n}" for code, n in sorted(s["statuses"].items()))
            ratio = [str(found.get(b, {}).get(c, "")) if target == "system" else "" for b in ("stand-in", "minimal")]
            table.append([target, c, f"{s['rps']:.0f}", *(f"{s[k]:.2f}" for k in MEASURES[1:]), statuses,
                          str(s["errors"]), f"{s['runs_ok']}/{s['runs']}", *ratio])
    return table


def plain(table: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [list(COLUMNS), *table]) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(str(v).rjust(w) for v, w in zip(r, widths, strict=True)) for r in [list(COLUMNS), *table])


def markdown(table: list[list[str]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(r) + " |" for r in table]
    return "\n".join(lines)


def cpu_lines(summaries: dict[str, dict[str, dict]], connections: str = "16") -> str:
    lines = [f"CPU during the c={connections} runs (median % of one core; the machine has 200):"]
    for target in TARGETS:
        if connections in summaries.get(target, {}):
            shares = summaries[target][connections]["cpu_pct"]
            lines.append(f"  {target:<9} " + ", ".join(f"{part} {pct}" for part, pct in shares.items()))
    return "\n".join(lines)
