#!/usr/bin/env python3
"""Prints the RFC 9293 MUST coverage table for README.md.

For every MUST-1..69 it lists the tests that name it: a test function called `must_N_...`
(or `must_N_M_...` for several), or a `// MUST-N` / "MUST-N" mention inside a test
function's body. Requirements that do not apply to tunstack carry the reason below.

    scripts/must_coverage.py            # the markdown table
    scripts/must_coverage.py --check    # exit 1 if README.md's table differs
    scripts/must_coverage.py --write    # replace the table in README.md
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOT_APPLICABLE = {
    43: "one address per stack: the local IP of an OPEN is always ours (MUST-44/45 are tested)",
    51: "source routing: not supported by the IPv4 layer (a TUN host has one path)",
    52: "source routing: not supported by the IPv4 layer",
    53: "source routing: not supported by the IPv4 layer",
}


def tests_by_must():
    found = {}
    fn_re = re.compile(r"fn\s+(\w+)\s*\(")
    for path in sorted(list(ROOT.glob("tests/**/*.rs")) + list(ROOT.glob("src/**/*.rs"))):
        text = path.read_text()
        # Split into functions roughly: each `fn name(` starts a region until the next.
        starts = [(m.start(), m.group(1)) for m in fn_re.finditer(text)]
        for i, (pos, name) in enumerate(starts):
            end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
            body = text[pos:end]
            # The region runs to the next `fn`; the next item's attributes and doc comment
            # belong to it, not to this function.
            cut = min((i for i in (body.find("\n///"), body.find("\n#[")) if i >= 0), default=len(body))
            body = body[:cut]
            ids = set()
            tokens = name.split("_")
            for i, tok in enumerate(tokens):
                if tok == "must":
                    rest = tokens[i + 1:]
                    j = 0
                    while j < len(rest) and rest[j].isdigit():
                        ids.add(int(rest[j]))
                        # `must_24_to_29`: a range
                        if j + 2 < len(rest) and rest[j + 1] == "to" and rest[j + 2].isdigit():
                            ids.update(range(int(rest[j]), int(rest[j + 2]) + 1))
                            j += 2
                        j += 1
            ids.update(int(x) for x in re.findall(r"MUST-(\d+)", body))
            # Only test functions count as proof.
            prefix = text[max(0, pos - 200):pos]
            is_test = "#[test]" in prefix.split("fn ")[-1] or "proptest!" in text[:pos] and name.startswith(("prop", "must", "arbitrary"))
            if not is_test:
                continue
            rel = path.relative_to(ROOT)
            for n in ids:
                found.setdefault(n, []).append(f"`{rel.stem}::{name}`")
    return found


def table():
    found = tests_by_must()
    lines = ["| MUST | status | proved by |", "|---|---|---|"]
    for n in range(1, 70):
        if n in found:
            tests = sorted(set(found[n]))
            shown = ", ".join(tests[:3]) + (f" (+{len(tests) - 3} more)" if len(tests) > 3 else "")
            lines.append(f"| MUST-{n} | met | {shown} |")
        elif n in NOT_APPLICABLE:
            lines.append(f"| MUST-{n} | not applicable | {NOT_APPLICABLE[n]} |")
        else:
            lines.append(f"| MUST-{n} | **not yet tested** | |")
    return "\n".join(lines)


def main():
    t = table()
    if "--write" in sys.argv:
        path = ROOT / "README.md"
        readme = path.read_text()
        start = readme.index("| MUST | status | proved by |")
        end = readme.index("\n", readme.index("| MUST-69 |", start))
        path.write_text(readme[:start] + t + readme[end:])
        print("README.md's MUST table written")
        return
    if "--check" in sys.argv:
        readme = (ROOT / "README.md").read_text()
        if t not in readme:
            print("README.md's MUST table is out of date: run scripts/must_coverage.py", file=sys.stderr)
            sys.exit(1)
        print("README.md's MUST table is current")
        return
    print(t)


if __name__ == "__main__":
    main()
