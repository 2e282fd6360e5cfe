"""An nbval extension: compare the numbers in a cell's output within a tolerance the cell declares.

Strict nbval compares every stored output with the fresh one character by character. That is
right for text and for numbers the code computes exactly, but a number from training moves in
its last digits between CPUs (oneDNN picks kernels by CPU features, batch size and thread
count), so such cells used to be tagged ``nbval-ignore-output`` and nothing on them was
compared. Instead, a cell declares how far its numbers may move, with tags:

- ``nbval-tolerance-2%``: every number within 2 % of the stored one (relative);
- ``nbval-tolerance-abs-0.01``: every number within 0.01 of the stored one (absolute);
- both together: a number passes if it is within either;
- ``nbval-tolerance-count-2``: whole numbers (no decimal point: counts of misread digits,
  of filters, an epoch) within 2 of the stored ones, while the other tags govern the decimals,
  so that a count that moves by one does not force a loose tolerance on the accuracies
  printed beside it.

In a tagged cell the text around the numbers must still match exactly (runs of spaces count
as one, since a table's column widths follow its numbers' widths), there must be as many
numbers as before, and each must lie within the tolerance. Untagged cells are compared by
nbval exactly as before. Timings, throughputs and the environment report are removed first by
the named sanitizers in ``tests/nbval_sanitize.cfg``, so they never count as numbers.

Load it with ``pytest --nbval -p tests.nbval_tolerance`` (the Makefile does).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass

TAG_PREFIX = "nbval-tolerance-"
_RELATIVE = re.compile(r"^nbval-tolerance-(\d+(?:\.\d+)?)%$")
_ABSOLUTE = re.compile(r"^nbval-tolerance-abs-(\d+(?:\.\d+)?(?:e-?\d+)?)$")
_COUNT = re.compile(r"^nbval-tolerance-count-(\d+)$")

# A decimal number as a page prints it: optional sign, thousands separators, a fraction, an
# exponent. "1,000" is one number; "37, 11" (a list) is two.
NUMBER = re.compile(
    r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?"
    r"|(?<![\w.])[-+]?\.\d+(?:[eE][-+]?\d+)?"
)
_SPACES = re.compile(r"[ \t]+")


@dataclass(frozen=True)
class Tolerance:
    """How far a number may move: relative (a fraction, 0.02 for 2 %) or absolute, or both."""

    relative: float = 0.0
    absolute: float = 0.0
    count: int | None = None  # for whole numbers, if set; else they follow the two above

    def allows(self, stored: float, fresh: float, whole: bool = False) -> bool:
        if math.isnan(stored) or math.isnan(fresh):
            return math.isnan(stored) and math.isnan(fresh)
        if whole and self.count is not None:
            return abs(fresh - stored) <= self.count
        return abs(fresh - stored) <= max(self.absolute, self.relative * abs(stored))

    def __str__(self) -> str:
        parts = []
        if self.relative:
            parts.append(f"{100 * self.relative:g} %")
        if self.absolute:
            parts.append(f"{self.absolute:g} absolute")
        if self.count is not None:
            parts.append(f"whole numbers {self.count:g} absolute")
        return " or ".join(parts) or "exact"


def tolerance_from_tags(tags: list[str]) -> Tolerance | None:
    """The tolerance a cell's tags declare, None if they declare none.

    A tag that starts like a tolerance but does not parse is an error, not silently exact.
    """
    relative = absolute = count = None
    for tag in tags:
        if not tag.startswith(TAG_PREFIX):
            continue
        if match := _RELATIVE.match(tag):
            relative = float(match.group(1)) / 100
        elif match := _ABSOLUTE.match(tag):
            absolute = float(match.group(1))
        elif match := _COUNT.match(tag):
            count = int(match.group(1))
        else:
            raise ValueError(
                f"cell tag {tag!r}: expected 'nbval-tolerance-<percent>%' "
                "(e.g. nbval-tolerance-2%) or 'nbval-tolerance-abs-<value>' "
                "(e.g. nbval-tolerance-abs-0.01) or 'nbval-tolerance-count-<n>'"
            )
    if relative is None and absolute is None and count is None:
        return None
    return Tolerance(relative or 0.0, absolute or 0.0, count)


def _to_float(token: str) -> float:
    return float(token.replace(",", ""))


def _whole(token: str) -> bool:
    return "." not in token and "e" not in token.lower()


def compare_text(stored: str, fresh: str, tolerance: Tolerance) -> str | None:
    """None when `fresh` matches `stored` within `tolerance`, else a one-line reason."""
    stored_numbers, fresh_numbers = NUMBER.findall(stored), NUMBER.findall(fresh)
    stored_text = _SPACES.sub(" ", NUMBER.sub("#", stored)).strip()
    fresh_text = _SPACES.sub(" ", NUMBER.sub("#", fresh)).strip()
    if stored_text != fresh_text:
        stored_lines, fresh_lines = stored_text.splitlines(), fresh_text.splitlines()
        for index, (a, b) in enumerate(zip(stored_lines, fresh_lines, strict=False)):
            if a != b:
                return f"text differs on line {index + 1}: {a!r} became {b!r} (# = a number)"
        return f"text differs: {len(stored_lines)} lines became {len(fresh_lines)}"
    for index, (a, b) in enumerate(zip(stored_numbers, fresh_numbers, strict=True)):
        if not tolerance.allows(_to_float(a), _to_float(b), whole=_whole(a) and _whole(b)):
            return (
                f"number {index + 1} moved beyond the cell's tolerance ({tolerance}): "
                f"{a} became {b}"
            )
    return None


def compare_outputs(cell_item, test, ref, skip_compare=None) -> bool:
    """Replacement for nbval's IPyNbCell.compare_outputs that honours tolerance tags."""
    tolerance = tolerance_from_tags(list(cell_item.cell.metadata.get("tags", [])))
    if tolerance is None:
        return _original_compare_outputs(cell_item, test, ref, skip_compare)

    from nbval.plugin import transform_streams_for_comparison

    skip_compare = skip_compare or cell_item.parent.skip_compare

    def flatten(outputs):
        flat = defaultdict(list)
        for output in transform_streams_for_comparison(outputs):
            for key, value in output.items():
                if key in skip_compare:
                    continue
                if key == "data":
                    for mime, content in value.items():
                        if mime not in skip_compare:
                            flat[mime].append(cell_item.sanitize(content))
                else:
                    flat[key].append(cell_item.sanitize(value))
        return flat

    fresh, stored = flatten(test), flatten(ref)
    cell_item.comparison_traceback = []
    if set(fresh) != set(stored):
        cell_item.comparison_traceback.append(
            f"output fields differ: stored {sorted(stored)}, now {sorted(fresh)}"
        )
        return False
    for key in stored:
        if len(stored[key]) != len(fresh[key]):
            cell_item.comparison_traceback.append(
                f"{key}: {len(stored[key])} outputs stored, {len(fresh[key])} now"
            )
            return False
        for old, new in zip(stored[key], fresh[key], strict=True):
            if old == new:
                continue
            if not (isinstance(old, str) and isinstance(new, str)):
                cell_item.format_output_compare(key, old, new)
                return False
            if (reason := compare_text(old, new, tolerance)) is not None:
                cell_item.comparison_traceback.append(f"{key}: {reason}")
                cell_item.format_output_compare(key, old, new)
                return False
    return True


_original_compare_outputs = None


def pytest_configure(config):
    """Install the tolerant comparison into nbval (once per session)."""
    global _original_compare_outputs
    from nbval.plugin import IPyNbCell

    if _original_compare_outputs is None:
        _original_compare_outputs = IPyNbCell.compare_outputs
        IPyNbCell.compare_outputs = compare_outputs


# --------------------------------------------------------------------------------------------
# Choosing a tolerance: how far did each cell's numbers move between two runs?


def _sanitizers(path: str = "tests/nbval_sanitize.cfg") -> list[tuple[re.Pattern, str]]:
    from nbval.plugin import get_sanitize_patterns

    with open(path, encoding="utf-8") as config:
        patterns = get_sanitize_patterns(config.read())
    return [(re.compile(regex), replace) for regex, replace in patterns]


def _cell_texts(cell, sanitizers) -> str:
    """A cell's printed and displayed text, sanitized as nbval would, as one string."""
    texts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            texts.append(output["text"])
        for mime in ("text/plain", "text/html"):  # glued values are new; they repeat prints
            if mime in output.get("data", {}):
                texts.append(output["data"][mime])
    joined = "\n".join(texts)
    for pattern, replace in sanitizers:
        joined = pattern.sub(replace, joined)
    return joined


def movement(stored: str, fresh: str) -> tuple[float, float] | None:
    """Largest relative and absolute change of any number, None if the text around them changed."""
    if compare_text(stored, fresh, Tolerance(relative=float("inf"))) is not None:
        return None
    relative = absolute = 0.0
    for a, b in zip(NUMBER.findall(stored), NUMBER.findall(fresh), strict=True):
        a, b = _to_float(a), _to_float(b)
        absolute = max(absolute, abs(a - b))
        relative = max(relative, abs(a - b) / abs(a) if a else (0.0 if b == 0 else math.inf))
    return relative, absolute


def main(argv: list[str] | None = None) -> None:
    """`python -m tests.nbval_tolerance OLD.ipynb NEW.ipynb`: per code cell, how far its numbers
    moved between two runs (e.g. the outputs committed from one CPU and a run on another), next
    to the tolerance the cell declares in NEW."""
    import argparse

    import nbformat

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("old")
    parser.add_argument("new")
    args = parser.parse_args(argv)
    sanitizers = _sanitizers()
    old = {c.get("id"): c for c in nbformat.read(args.old, 4).cells if c.cell_type == "code"}
    new = [c for c in nbformat.read(args.new, 4).cells if c.cell_type == "code"]
    for index, cell in enumerate(new):
        tags = list(cell.metadata.get("tags", []))
        declared = tolerance_from_tags(tags)
        before = old.get(cell.get("id"))
        if before is None:
            verdict = "new cell"
        else:
            old_text, new_text = _cell_texts(before, sanitizers), _cell_texts(cell, sanitizers)
            moved = movement(old_text, new_text)
            if moved is None:
                reason = compare_text(old_text, new_text, Tolerance(relative=float("inf")))
                verdict = f"text changed ({reason})"
            elif moved == (0.0, 0.0):
                verdict = "same"
            else:
                verdict = f"moved {100 * moved[0]:.3g} % / {moved[1]:.3g} absolute"
        ignored = " (ignored)" if "nbval-ignore-output" in tags else ""
        declared = declared or "exact"
        print(f"code cell {index:2d} {cell.get('id')}: {verdict}; declares {declared}{ignored}")


if __name__ == "__main__":
    main()
