"""Targets of the storage and catalog benchmarks: each check prints its value, the script's
exit status says whether all were met."""

from __future__ import annotations


class Report:
    """Collects the targets a benchmark missed."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.missed: list[str] = []

    def target(self, label: str, value: float, limit: float, *, at_most: bool) -> None:
        ok = value <= limit if at_most else value >= limit
        sign = "<=" if at_most else ">="
        print(f"  {label}: {value:.3f} (target {sign} {limit}) {'ok' if ok else 'MISSED'}")
        if not ok:
            self.missed.append(label)

    def exit_status(self) -> int:
        if self.missed:
            print(f"MISSED: {', '.join(self.missed)}")
            return 1
        print(f"all {self.name} targets met")
        return 0
