#!/usr/bin/env python3
"""The key list of man/tally.yaml.5.scd and tallyd --list-keys (on stdin).

  conf_keys.py --update PAGE.scd   rewrite the list between the KEYS markers
  conf_keys.py --check PAGE        exit 1, naming each difference, unless the
                                   keys PAGE documents (an .scd source or a
                                   page rendered by man/groff) are exactly the
                                   schema's, in the same order (and, in a
                                   source, with the schema's defaults, ranges
                                   and help)
"""
import re
import sys

BEGIN = "; BEGIN KEYS: written by make update-man-keys from tallyd --list-keys"
END = "; END KEYS"


def schema():
    rows = []
    for line in sys.stdin.read().splitlines():
        f = line.split("\t")
        if len(f) != 6:
            sys.exit("conf_keys.py: not a --list-keys line: %r" % line[:200])
        rows.append(f)
    if not rows:
        sys.exit("conf_keys.py: no keys on stdin")
    return rows


def esc(s):
    """scdoc text: the markup characters * _ \\ taken literally."""
    return re.sub(r"([\\*_])", r"\\\1", s)


def entry(f):
    path, typ, default, rng, flags, text = f
    if typ == "section":
        head = "*%s* (section)" % esc(path)
    else:
        parts = [typ if typ != "maps" else "list of maps"]
        if default == "(required)":
            parts.append("required")
        else:
            parts.append("default %s" % esc(default))
        if rng:
            if typ == "enum":
                parts.append("one of " + esc(", ".join(rng.split("|"))))
            elif typ in ("list", "maps"):
                parts.append("%s elements" % esc(rng.replace("..", " to ")))
            else:
                parts.append(esc(rng.replace("..", " to ")))
        if flags:
            parts.append(", ".join(flags.split()))
        head = "*%s* (%s)" % (esc(path), "; ".join(parts))
    return "%s\n\t%s\n" % (head, esc(text) if text else "-")


def update(page):
    rows = schema()
    src = open(page, encoding="utf-8").read()
    if BEGIN not in src or END not in src:
        sys.exit("conf_keys.py: %s has no KEYS markers" % page)
    head, rest = src.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    body = "\n".join(entry(f) for f in rows)
    with open(page, "w", encoding="utf-8") as out:
        out.write(head + BEGIN + "\n\n" + body + "\n" + END + tail)


def page_keys(page):
    text = open(page, encoding="utf-8").read()
    if page.endswith(".scd"):
        text = text.replace("\\", "")
        pat = r"^\*([A-Za-z0-9_.\[\]=]+)\* \("
    else:
        # Rendered: overstrikes and escapes removed by the caller (col -b).
        pat = r"^ {7}([a-z][A-Za-z0-9_.\[\]=]+) \((?:section|bool|int|size|double|string|enum|list|list of maps)[;)]"
    return re.findall(pat, text, re.M)


def stale_entries(page, rows):
    """Keys of an .scd source whose type, default, range, flags or help
    differ from the schema's."""
    src = open(page, encoding="utf-8").read()
    if BEGIN not in src or END not in src:
        return ["(no KEYS markers)"]
    region = src.split(BEGIN, 1)[1].split(END, 1)[0]
    have = set(e.strip() for e in region.split("\n\n") if e.strip())
    return [f[0] for f in rows if entry(f).strip() not in have]


def check(page):
    rows = schema()
    want = [f[0] for f in rows]
    got = page_keys(page)
    bad = 0
    if page.endswith(".scd"):
        for k in stale_entries(page, rows):
            if k in got:
                print("%s: %s: type, default, range or help differ from the schema" % (page, k))
                bad = 1
    for k in sorted(set(want) - set(got)):
        print("%s: key %s of the schema is not documented" % (page, k))
        bad = 1
    for k in sorted(set(got) - set(want)):
        print("%s: documents %s, which the schema does not have" % (page, k))
        bad = 1
    if len(got) != len(set(got)):
        print("%s: a key is documented twice" % page)
        bad = 1
    if not bad and got != want:
        print("%s: the keys are not in the schema's order" % page)
        bad = 1
    if bad:
        print("(run make update-man-keys, then make, to rewrite the list)")
    else:
        print("%s: %d keys, as the schema" % (page, len(got)))
    return bad


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("--update", "--check"):
        sys.exit(__doc__)
    if sys.argv[1] == "--update":
        update(sys.argv[2])
    else:
        sys.exit(check(sys.argv[2]))
