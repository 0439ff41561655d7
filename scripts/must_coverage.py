#!/usr/bin/env python3
"""Prints the RFC 9293 MUST coverage table for README.md.

A MUST is "met" only through a test that is named for it and asserts something:

- named: a `#[test]` function (plain or inside `proptest!`) whose name carries the id:
  `must_13_...`, several as `must_2_must_3_...` or `must_30_31_62_...`, a range as
  `must_24_to_29_...`. A `MUST-13` mention in a comment, a doc comment or a message no longer
  counts: a mention proves nothing.
- asserts: with comments and string literals removed, its body calls one of ASSERT_MACROS or
  ASSERT_HELPERS (harness helpers that panic when the behaviour is wrong; each helper's own
  body is checked for its check too, so emptying one cannot pass silently).

A test named for a MUST that asserts nothing (an empty `fn must_43_placeholder() {}`) is
reported and proves nothing; so is a function named for a MUST that is not a test, or an id
outside 1..69. `--check` fails on any of them. Requirements that do not apply to tunstack
carry the reason below.

    scripts/must_coverage.py            # the markdown table (problems on stderr)
    scripts/must_coverage.py --check    # exit 1 if README.md's table differs or on a problem
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

# Assertion macros accepted in a test body.
ASSERT_MACROS = [
    "assert",
    "assert_eq",
    "assert_ne",
    "prop_assert",
    "prop_assert_eq",
    "prop_assert_ne",
]

# Harness helpers that assert: where each is defined and the check its body must make
# (so a helper emptied of its check is caught here, not trusted).
ASSERT_HELPERS = {
    # the next segment we sent matches the notation
    "expect_sent": ("tests/tcp_common/harness.rs", r"\bassert_matches\s*\("),
    "expect_nothing_sent": ("tests/tcp_common/harness.rs", r"\bpanic\s*!"),
    "expect_state": ("tests/tcp_common/harness.rs", r"\bassert_eq\s*!"),
    "expect_event": ("tests/tcp_common/harness.rs", r"\bassert\s*!"),
    # a segment matches every field written in the notation
    "assert_matches": ("tests/tcp_common/notation.rs", r"\bassert\s*!"),
}

FN_RE = re.compile(r"\bfn\s+(\w+)\s*(?:<[^>{]*>)?\s*\(")
RAW_RE = re.compile(r'b?r(#*)"')


def strip(text):
    """`text` with comments blanked and string/char literals emptied, same length and line
    structure, so positions stay valid and braces inside literals or comments are inert."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif (
            c in "br"
            and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_"))
            and (m := RAW_RE.match(text, i))
        ):
            close = '"' + m.group(1)
            j = text.find(close, m.end())
            j = n if j < 0 else j + len(close)
            out.append('""' + re.sub(r"[^\n]", " ", text[i + 2:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append('""' + re.sub(r"[^\n]", " ", text[i + 2:j]))
            i = j
        elif c == "'":
            # A char literal ('x', '\n', '\u{7f}', '{') or a lifetime ('a).
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", text[i:i + 12])
            if m:
                out.append("' '" + " " * (m.end() - 3))
                i += m.end()
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def functions(path):
    """Yield (name, is_test, body) for every `fn` with a body in the file; `body` has its
    comments and literals stripped."""
    text = strip(path.read_text())
    for m in FN_RE.finditer(text):
        # The body: the first `{` after the signature at bracket depth 0, to its match.
        i, depth = m.end(), 1
        while i < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        open_ = i
        while open_ < len(text) and text[open_] not in "{;":
            open_ += 1
        if open_ >= len(text) or text[open_] == ";":
            continue  # a declaration without a body (trait item, extern)
        j, depth = open_ + 1, 1
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        body = text[open_:j]
        # The attributes right above `fn` (doc comments are blank after `strip`).
        head = text[:m.start()]
        k = len(head)
        attrs = []
        while True:
            seg = head[:k].rstrip()
            seg = re.sub(r"\b(pub(\([^)]*\))?|async|const|unsafe)\s*$", "", seg).rstrip()
            if seg.endswith("]"):
                start = seg.rfind("#[")
                if start < 0:
                    break
                attrs.append(seg[start:])
                k = start
            else:
                break
        is_test = any(re.fullmatch(r"#\[(\w+::)?test(\(.*\))?\]", a, re.S) for a in attrs)
        yield m.group(1), is_test, body


def must_ids(name):
    """The MUST ids a function name carries: must_N, must_N_M, must_N_must_M, must_N_to_M."""
    ids = set()
    tokens = name.split("_")
    for i, tok in enumerate(tokens):
        if tok != "must":
            continue
        rest = tokens[i + 1:]
        j = 0
        while j < len(rest) and rest[j].isdigit():
            ids.add(int(rest[j]))
            if j + 2 < len(rest) and rest[j + 1] == "to" and rest[j + 2].isdigit():
                ids.update(range(int(rest[j]), int(rest[j + 2]) + 1))
                j += 2
            j += 1
    return ids


ASSERTS = re.compile(
    r"\b(?:(?:" + "|".join(ASSERT_MACROS) + r")\s*!"
    + r"|(?:" + "|".join(ASSERT_HELPERS) + r")\s*\()"
)


def asserts(body):
    return ASSERTS.search(body) is not None


def helper_problems():
    """Each accepted helper must exist where listed and make its check."""
    problems = []
    for helper, (rel, check) in ASSERT_HELPERS.items():
        bodies = [b for name, _, b in functions(ROOT / rel) if name == helper]
        if not bodies:
            problems.append(f"assertion helper `{helper}` not found in {rel}")
        elif not any(re.search(check, b) for b in bodies):
            problems.append(f"assertion helper `{helper}` in {rel} no longer checks ({check})")
    return problems


def scan():
    """(proofs: MUST id -> tests, problems: list of sentences)."""
    found, problems = {}, []
    for path in sorted(list(ROOT.glob("tests/**/*.rs")) + list(ROOT.glob("src/**/*.rs"))):
        rel = path.relative_to(ROOT)
        for name, is_test, body in functions(path):
            ids = must_ids(name)
            if not ids:
                continue
            where = f"{rel}::{name}"
            bad = sorted(n for n in ids if not 1 <= n <= 69)
            if bad:
                problems.append(f"{where}: no such MUST {bad} (RFC 9293 has MUST-1..69)")
            if not is_test:
                problems.append(f"{where}: named for a MUST but not a #[test]")
                continue
            if not asserts(body):
                problems.append(f"{where}: named for MUST {sorted(ids)} but asserts nothing")
                continue
            for n in ids:
                found.setdefault(n, []).append(f"`{rel.stem}::{name}`")
    return found, problems + helper_problems()


def table(found):
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
    found, problems = scan()
    t = table(found)
    for p in problems:
        print(f"must_coverage: {p}", file=sys.stderr)
    if "--write" in sys.argv:
        path = ROOT / "README.md"
        readme = path.read_text()
        start = readme.index("| MUST | status | proved by |")
        end = readme.index("\n", readme.index("| MUST-69 |", start))
        path.write_text(readme[:start] + t + readme[end:])
        print("README.md's MUST table written")
        sys.exit(1 if problems else 0)
    if "--check" in sys.argv:
        readme = (ROOT / "README.md").read_text()
        ok = True
        if t not in readme:
            print("README.md's MUST table is out of date: run scripts/must_coverage.py --write", file=sys.stderr)
            ok = False
        if problems:
            print(f"{len(problems)} problem(s) above: a MUST is proved only by a test named for it that asserts", file=sys.stderr)
            ok = False
        if not ok:
            sys.exit(1)
        print("README.md's MUST table is current")
        return
    print(t)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
