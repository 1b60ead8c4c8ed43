/*
 * pyregex.h — the answer of Python's re.match(pattern, text) is not None,
 * for the event_type patterns of ceilometer's meters.yaml
 * ("compute.instance.(?!create.start|update).*").
 *
 * Only whether a match exists at the start of the text is computed (no
 * groups), so greedy and lazy quantifiers are the same thing here. Supported:
 * literals and escapes (\n \t \xhh \uhhhh \Uhhhhhhhh, escaped punctuation),
 * '.', classes with ranges and negation, \d \w \s \D \W \S, anchors ^ $ \A \Z
 * \b \B, groups ( ) (?: ) (?P<name> ), lookaheads (?= ) (?! ), alternation,
 * * + ? {m} {m,} {,n} {m,n} and their lazy forms, (?#comments). Refused at
 * compile with the offset (Python refuses some of these too): lookbehind,
 * backreferences, inline flags, conditionals, atomic groups and possessive
 * quantifiers, \N{...}. Text and pattern are UTF-8 and matched by code point;
 * \d, \w and \s follow ASCII plus a short list of Unicode spaces, where
 * Python consults the whole Unicode database (docs/definitions.md).
 *
 * Threads: a compiled pattern is read-only and may be shared.
 */
#ifndef TL_DEFINITIONS_PYREGEX_H
#define TL_DEFINITIONS_PYREGEX_H

#include <stdbool.h>
#include <stddef.h>

#define TL_PYREGEX_MAX_LEN   1024    /* bytes of a pattern */
#define TL_PYREGEX_MAX_PROG  8192    /* instructions after {m,n} are expanded */
#define TL_PYREGEX_MAX_STEPS 1000000 /* backtracking steps of one match */

struct tl_pyregex;

/*
 * Compiles pattern[0..len). Returns 0 and *out (free with tl_pyregex_free()),
 * -EINVAL with a message in err ("offset 3: lookbehind is not supported"),
 * or -ENOMEM.
 */
int tl_pyregex_compile(const char *pattern, size_t len, struct tl_pyregex **out, char *err,
		       size_t errlen);
void tl_pyregex_free(struct tl_pyregex *re);

/*
 * 1 when re.match(pattern, text) would find a match, 0 when not, -E2BIG when
 * TL_PYREGEX_MAX_STEPS were spent without an answer, -EINVAL when text is not
 * valid UTF-8 (checked once it starts with the pattern's literal prefix: a text
 * that does not is a 0 at once), -ENOMEM.
 */
int tl_pyregex_match(const struct tl_pyregex *re, const char *text, size_t len);

#endif
