/*
 * pyregex.c — re.match() existence for event_type patterns: a parser of
 * Python's syntax into a small tree, code for a backtracking machine (the
 * shape of re1's backtrack), and the machine, with an explicit stack and a
 * step cap. A loop iteration that consumes nothing fails: for the existence
 * of a match it never helps, and it is what would loop forever.
 */
#include "config.h"

#include "definitions/pyregex.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/utf8.h"

/* ------------------------------------------------------------------ tree */

enum node_kind { N_EMPTY, N_CHAR, N_ANY, N_CLASS, N_CAT, N_ALT, N_REPEAT, N_LOOK, N_ASSERT };
enum { A_BEGIN, A_END, A_STR_END, A_WORD_B, A_NOT_WORD_B }; /* ^ \A, $, \Z, \b, \B */

/* \d \D \w \W \s \S as bits of a class. */
enum { C_D = 1, C_ND = 2, C_W = 4, C_NW = 8, C_S = 16, C_NS = 32 };

struct range {
	uint32_t lo, hi;
};

struct node {
	enum node_kind kind;
	uint32_t c;	  /* N_CHAR: the code point; N_CLASS: C_* bits; N_ASSERT: A_* */
	bool neg;	  /* N_CLASS, N_LOOK */
	int min, max;	  /* N_REPEAT; max -1: no bound */
	struct range *rg; /* N_CLASS */
	size_t n_rg;
	struct node **kids; /* N_CAT, N_ALT: the parts; N_REPEAT, N_LOOK: kids[0] */
	size_t n_kids;
};

enum op { O_CHAR, O_ANY, O_CLASS, O_SPLIT, O_JMP, O_MATCH, O_ASSERT, O_LOOK, O_MARK, O_CHECK };

struct inst {
	uint8_t op;
	bool neg;
	uint32_t c;
	int x, y; /* SPLIT: both targets; JMP: x; LOOK: x sub-program, y next; CLASS: x ranges, y n;
		     MARK/CHECK: x register */
};

struct tl_pyregex {
	struct inst *prog;
	size_t n_prog;
	struct range *rg;
	size_t n_rg;
	int n_regs;
	/* The literal text every match starts with (the leading O_CHARs), for a quick no. */
	char prefix[32];
	size_t n_prefix;
};

struct parser {
	const char *p, *start, *end;
	char *err;
	size_t errlen;
	int rc;
	int depth;
};

#define MAX_DEPTH 32
#define MAX_REGS  256

static void node_free(struct node *n)
{
	size_t i;

	if (!n)
		return;
	for (i = 0; i < n->n_kids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->rg);
	free(n);
}

static void perr(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void perr(struct parser *ps, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (ps->rc)
		return;
	ps->rc = -EINVAL;
	if (!ps->errlen)
		return;
	n = (size_t)snprintf(ps->err, ps->errlen, "offset %zu: ", (size_t)(ps->p - ps->start));
	if (n < ps->errlen) {
		va_start(ap, fmt);
		tl_vformat(ps->err + n, ps->errlen - n, fmt, ap);
		va_end(ap);
	}
}

static struct node *mk(struct parser *ps, enum node_kind k)
{
	struct node *n = calloc(1, sizeof(*n));

	if (!n && !ps->rc)
		ps->rc = -ENOMEM;
	if (n)
		n->kind = k;
	return n;
}

static int add_kid(struct parser *ps, struct node *n, struct node *k)
{
	struct node **v = realloc(n->kids, (n->n_kids + 1) * sizeof(*v));

	if (!v) {
		node_free(k);
		ps->rc = -ENOMEM;
		return -1;
	}
	n->kids = v;
	n->kids[n->n_kids++] = k;
	return 0;
}

static int add_range(struct parser *ps, struct node *n, uint32_t lo, uint32_t hi)
{
	struct range *v = realloc(n->rg, (n->n_rg + 1) * sizeof(*v));

	if (!v) {
		ps->rc = -ENOMEM;
		return -1;
	}
	n->rg = v;
	n->rg[n->n_rg].lo = lo;
	n->rg[n->n_rg].hi = hi;
	n->n_rg++;
	return 0;
}

/* The next code point of the pattern; 0 and an error when it is not UTF-8. */
static uint32_t next_cp(struct parser *ps)
{
	uint32_t cp;
	size_t k =
		tl_utf8_decode((const unsigned char *)ps->p, (const unsigned char *)ps->end, &cp);

	if (!k) {
		perr(ps, "the pattern is not valid UTF-8");
		return 0;
	}
	ps->p += k;
	return cp;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * An escape after the backslash (consumed). Sets *cp for a literal, or
 * *cls to C_* bits, or *as to an A_* anchor (outside classes). Returns 0, -1.
 */
static int parse_escape(struct parser *ps, bool in_class, uint32_t *cp, uint32_t *cls, int *as)
{
	char c;
	int i, n, h;
	uint32_t v = 0;

	*cls = 0;
	*as = -1;
	if (ps->p >= ps->end) {
		perr(ps, "bad escape (end of pattern)");
		return -1;
	}
	c = *ps->p;
	switch (c) {
	case 'd':
		ps->p++;
		*cls = C_D;
		return 0;
	case 'D':
		ps->p++;
		*cls = C_ND;
		return 0;
	case 'w':
		ps->p++;
		*cls = C_W;
		return 0;
	case 'W':
		ps->p++;
		*cls = C_NW;
		return 0;
	case 's':
		ps->p++;
		*cls = C_S;
		return 0;
	case 'S':
		ps->p++;
		*cls = C_NS;
		return 0;
	case 'n':
		ps->p++;
		*cp = '\n';
		return 0;
	case 't':
		ps->p++;
		*cp = '\t';
		return 0;
	case 'r':
		ps->p++;
		*cp = '\r';
		return 0;
	case 'f':
		ps->p++;
		*cp = '\f';
		return 0;
	case 'v':
		ps->p++;
		*cp = '\v';
		return 0;
	case 'a':
		ps->p++;
		*cp = '\a';
		return 0;
	case 'b':
		ps->p++;
		if (in_class)
			*cp = '\b';
		else
			*as = A_WORD_B;
		return 0;
	case 'B':
	case 'A':
	case 'Z':
		if (in_class) {
			perr(ps, "bad escape \\%c in a class", c);
			return -1;
		}
		ps->p++;
		*as = c == 'B' ? A_NOT_WORD_B : c == 'A' ? A_BEGIN : A_STR_END;
		return 0;
	case 'x':
	case 'u':
	case 'U':
		n = c == 'x' ? 2 : c == 'u' ? 4 : 8;
		ps->p++;
		for (i = 0; i < n; i++) {
			if (ps->p >= ps->end || (h = hexval(*ps->p)) < 0) {
				perr(ps, "incomplete escape \\%c", c);
				return -1;
			}
			v = v * 16 + (uint32_t)h;
			ps->p++;
		}
		if (v > 0x10ffff) {
			perr(ps, "bad escape \\%c: beyond U+10FFFF", c);
			return -1;
		}
		*cp = v;
		return 0;
	case '0':
		/* Octal: \0 and up to two more octal digits. */
		ps->p++;
		for (i = 0; i < 2 && ps->p < ps->end && *ps->p >= '0' && *ps->p <= '7'; i++)
			v = v * 8 + (uint32_t)(*ps->p++ - '0');
		*cp = v;
		return 0;
	default:
		break;
	}
	if (c >= '1' && c <= '9') {
		perr(ps, "backreferences are not supported");
		return -1;
	}
	if (c == 'N') {
		perr(ps, "\\N{...} is not supported");
		return -1;
	}
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
		perr(ps, "bad escape \\%c", c); /* Python refuses unknown ASCII letter escapes */
		return -1;
	}
	*cp = next_cp(ps);
	return ps->rc ? -1 : 0;
}

static struct node *parse_alt(struct parser *ps);

static struct node *parse_class(struct parser *ps)
{
	struct node *n = mk(ps, N_CLASS);
	uint32_t lo, hi, cls;
	int as;
	bool first = true;

	if (!n)
		return NULL;
	if (ps->p < ps->end && *ps->p == '^') {
		n->neg = true;
		ps->p++;
	}
	for (;;) {
		if (ps->p >= ps->end) {
			perr(ps, "unterminated character set");
			goto fail;
		}
		if (*ps->p == ']' && !first) {
			ps->p++;
			return n;
		}
		first = false;
		cls = 0;
		if (*ps->p == '\\') {
			ps->p++;
			if (parse_escape(ps, true, &lo, &cls, &as) < 0)
				goto fail;
		} else {
			lo = next_cp(ps);
			if (ps->rc)
				goto fail;
		}
		if (cls) {
			n->c |= cls;
			continue;
		}
		hi = lo;
		if (ps->end - ps->p >= 2 && ps->p[0] == '-' && ps->p[1] != ']') {
			ps->p++;
			if (*ps->p == '\\') {
				ps->p++;
				if (parse_escape(ps, true, &hi, &cls, &as) < 0)
					goto fail;
				if (cls) {
					perr(ps, "bad character range");
					goto fail;
				}
			} else {
				hi = next_cp(ps);
				if (ps->rc)
					goto fail;
			}
			if (hi < lo) {
				perr(ps, "bad character range");
				goto fail;
			}
		}
		if (add_range(ps, n, lo, hi) < 0)
			goto fail;
	}
fail:
	node_free(n);
	return NULL;
}

/* {m}, {m,}, {,n}, {m,n} at ps->p (on the '{'); false when it is a literal '{'. */
static bool parse_braces(struct parser *ps, int *min, int *max)
{
	const char *q = ps->p + 1;
	long a = -1, b = -1;
	bool comma = false;

	while (q < ps->end && *q >= '0' && *q <= '9') {
		a = (a < 0 ? 0 : a) * 10 + (*q++ - '0');
		if (a > 65535)
			a = 65536;
	}
	if (q < ps->end && *q == ',') {
		comma = true;
		q++;
		while (q < ps->end && *q >= '0' && *q <= '9') {
			b = (b < 0 ? 0 : b) * 10 + (*q++ - '0');
			if (b > 65535)
				b = 65536;
		}
	}
	if (q >= ps->end || *q != '}' || (a < 0 && !comma))
		return false;
	*min = a < 0 ? 0 : (int)a;
	*max = comma ? (b < 0 ? -1 : (int)b) : *min;
	ps->p = q + 1;
	return true;
}

static struct node *parse_atom(struct parser *ps)
{
	struct node *n;
	uint32_t cp, cls;
	int as;
	char c = *ps->p;

	switch (c) {
	case '.':
		ps->p++;
		return mk(ps, N_ANY);
	case '^':
		ps->p++;
		n = mk(ps, N_ASSERT);
		if (n)
			n->c = A_BEGIN;
		return n;
	case '$':
		ps->p++;
		n = mk(ps, N_ASSERT);
		if (n)
			n->c = A_END;
		return n;
	case '[':
		ps->p++;
		return parse_class(ps);
	case '\\':
		ps->p++;
		if (parse_escape(ps, false, &cp, &cls, &as) < 0)
			return NULL;
		if (as >= 0) {
			n = mk(ps, N_ASSERT);
			if (n)
				n->c = (uint32_t)as;
		} else if (cls) {
			n = mk(ps, N_CLASS);
			if (n)
				n->c = cls;
		} else {
			n = mk(ps, N_CHAR);
			if (n)
				n->c = cp;
		}
		return n;
	case '(': {
		bool look = false, neg = false;

		ps->p++;
		if (ps->p < ps->end && *ps->p == '?') {
			ps->p++;
			if (ps->p >= ps->end) {
				perr(ps, "unexpected end of pattern");
				return NULL;
			}
			c = *ps->p;
			if (c == ':') {
				ps->p++;
			} else if (c == '=' || c == '!') {
				look = true;
				neg = c == '!';
				ps->p++;
			} else if (c == 'P' && ps->end - ps->p > 1 && ps->p[1] == '<') {
				const char *q = memchr(ps->p, '>', (size_t)(ps->end - ps->p));

				if (!q || q == ps->p + 2) {
					perr(ps, "bad group name");
					return NULL;
				}
				ps->p = q + 1;
			} else if (c == '#') {
				const char *q = memchr(ps->p, ')', (size_t)(ps->end - ps->p));

				if (!q) {
					perr(ps, "missing ), unterminated comment");
					return NULL;
				}
				ps->p = q + 1;
				return mk(ps, N_EMPTY);
			} else if (c == '<') {
				perr(ps, "lookbehind is not supported");
				return NULL;
			} else if (c == 'P') {
				perr(ps, "named backreferences are not supported");
				return NULL;
			} else if (c == '>') {
				perr(ps, "atomic groups are not supported");
				return NULL;
			} else if (c == '(') {
				perr(ps, "conditional groups are not supported");
				return NULL;
			} else {
				perr(ps, "inline flags and other (?... forms are not supported");
				return NULL;
			}
		}
		if (++ps->depth > MAX_DEPTH) {
			perr(ps, "groups nested deeper than %d", MAX_DEPTH);
			return NULL;
		}
		n = parse_alt(ps);
		ps->depth--;
		if (!n)
			return NULL;
		if (ps->p >= ps->end || *ps->p != ')') {
			perr(ps, "missing ), unterminated subpattern");
			node_free(n);
			return NULL;
		}
		ps->p++;
		if (look) {
			struct node *l = mk(ps, N_LOOK);

			if (!l || add_kid(ps, l, n) < 0) {
				node_free(l);
				return NULL;
			}
			l->neg = neg;
			return l;
		}
		return n;
	}
	case '*':
	case '+':
	case '?':
		perr(ps, "nothing to repeat");
		return NULL;
	case '{': {
		int mn, mx;
		const char *save = ps->p;

		if (parse_braces(ps, &mn, &mx)) {
			ps->p = save;
			perr(ps, "nothing to repeat");
			return NULL;
		}
		ps->p++;
		n = mk(ps, N_CHAR);
		if (n)
			n->c = '{';
		return n;
	}
	default:
		cp = next_cp(ps);
		if (ps->rc)
			return NULL;
		n = mk(ps, N_CHAR);
		if (n)
			n->c = cp;
		return n;
	}
}

static struct node *parse_cat(struct parser *ps)
{
	struct node *cat = mk(ps, N_CAT), *a, *r;
	int mn, mx;

	if (!cat)
		return NULL;
	while (ps->p < ps->end && *ps->p != '|' && *ps->p != ')') {
		a = parse_atom(ps);
		if (!a)
			goto fail;
		while (ps->p < ps->end) {
			const char *at = ps->p;

			if (*ps->p == '*') {
				mn = 0, mx = -1, ps->p++;
			} else if (*ps->p == '+') {
				mn = 1, mx = -1, ps->p++;
			} else if (*ps->p == '?') {
				mn = 0, mx = 1, ps->p++;
			} else if (*ps->p == '{' && parse_braces(ps, &mn, &mx)) {
				if (mx >= 0 && mx < mn) {
					perr(ps, "min repeat greater than max repeat");
					node_free(a);
					goto fail;
				}
			} else {
				break;
			}
			if (a->kind == N_ASSERT || a->kind == N_REPEAT || a->kind == N_LOOK) {
				ps->p = at;
				perr(ps,
				     a->kind == N_REPEAT ? "multiple repeat" : "nothing to repeat");
				node_free(a);
				goto fail;
			}
			if (ps->p < ps->end && *ps->p == '?') {
				ps->p++; /* lazy: the same for existence */
			} else if (ps->p < ps->end && *ps->p == '+') {
				perr(ps, "possessive quantifiers are not supported");
				node_free(a);
				goto fail;
			}
			r = mk(ps, N_REPEAT);
			if (!r || add_kid(ps, r, a) < 0) {
				node_free(r);
				goto fail;
			}
			r->min = mn;
			r->max = mx;
			a = r;
		}
		if (add_kid(ps, cat, a) < 0)
			goto fail;
	}
	return cat;
fail:
	node_free(cat);
	return NULL;
}

static struct node *parse_alt(struct parser *ps)
{
	struct node *alt = mk(ps, N_ALT), *c;

	if (!alt)
		return NULL;
	for (;;) {
		c = parse_cat(ps);
		if (!c || add_kid(ps, alt, c) < 0)
			goto fail;
		if (ps->p < ps->end && *ps->p == '|') {
			ps->p++;
			continue;
		}
		return alt;
	}
fail:
	node_free(alt);
	return NULL;
}

/* ------------------------------------------------------------------ code */

struct gen {
	struct tl_pyregex *re;
	size_t cap;
	int rc;
};

static int emit(struct gen *g, enum op op)
{
	struct tl_pyregex *re = g->re;

	if (g->rc)
		return -1;
	if (re->n_prog >= TL_PYREGEX_MAX_PROG) {
		g->rc = -E2BIG;
		return -1;
	}
	if (re->n_prog == g->cap &&
	    tl_array_grow((void **)&re->prog, &g->cap, re->n_prog + 1, sizeof(*re->prog)) < 0) {
		g->rc = -ENOMEM;
		return -1;
	}
	memset(&re->prog[re->n_prog], 0, sizeof(*re->prog));
	re->prog[re->n_prog].op = (uint8_t)op;
	return (int)re->n_prog++;
}

static void gen(struct gen *g, const struct node *n)
{
	struct tl_pyregex *re = g->re;
	size_t i;
	int pc, l, j, k, r;

	if (g->rc)
		return;
	switch (n->kind) {
	case N_EMPTY:
		break;
	case N_CHAR:
		if ((pc = emit(g, O_CHAR)) >= 0)
			re->prog[pc].c = n->c;
		break;
	case N_ANY:
		emit(g, O_ANY);
		break;
	case N_ASSERT:
		if ((pc = emit(g, O_ASSERT)) >= 0)
			re->prog[pc].c = n->c;
		break;
	case N_CLASS: {
		size_t cap = re->n_rg;
		struct range *v;

		if ((pc = emit(g, O_CLASS)) < 0)
			break;
		if (n->n_rg) {
			v = realloc(re->rg, (cap + n->n_rg) * sizeof(*v));
			if (!v) {
				g->rc = -ENOMEM;
				break;
			}
			re->rg = v;
			memcpy(re->rg + cap, n->rg, n->n_rg * sizeof(*v));
			re->n_rg += n->n_rg;
		}
		re->prog[pc].x = (int)cap;
		re->prog[pc].y = (int)n->n_rg;
		re->prog[pc].c = n->c;
		re->prog[pc].neg = n->neg;
		break;
	}
	case N_CAT:
		for (i = 0; i < n->n_kids; i++)
			gen(g, n->kids[i]);
		break;
	case N_ALT: {
		int jumps[64], nj = 0;

		if (n->n_kids == 1) {
			gen(g, n->kids[0]);
			break;
		}
		for (i = 0; i < n->n_kids; i++) {
			if (i + 1 < n->n_kids) {
				if ((pc = emit(g, O_SPLIT)) < 0)
					return;
				re->prog[pc].x = pc + 1;
				gen(g, n->kids[i]);
				if ((j = emit(g, O_JMP)) < 0)
					return;
				if (nj == 64) {
					g->rc = -E2BIG;
					return;
				}
				jumps[nj++] = j;
				re->prog[pc].y = (int)re->n_prog;
			} else {
				gen(g, n->kids[i]);
			}
		}
		for (j = 0; j < nj && !g->rc; j++)
			re->prog[jumps[j]].x = (int)re->n_prog;
		break;
	}
	case N_REPEAT:
		for (k = 0; k < n->min && !g->rc; k++)
			gen(g, n->kids[0]);
		if (n->max < 0) {
			if (re->n_regs >= MAX_REGS) {
				g->rc = -E2BIG;
				return;
			}
			r = re->n_regs++;
			if ((l = emit(g, O_SPLIT)) < 0)
				return;
			re->prog[l].x = l + 1;
			if ((pc = emit(g, O_MARK)) < 0)
				return;
			re->prog[pc].x = r;
			gen(g, n->kids[0]);
			if ((pc = emit(g, O_CHECK)) < 0)
				return;
			re->prog[pc].x = r;
			if ((pc = emit(g, O_JMP)) < 0)
				return;
			re->prog[pc].x = l;
			re->prog[l].y = (int)re->n_prog;
		} else {
			int splits[256], ns = 0;

			for (k = n->min; k < n->max && !g->rc; k++) {
				if ((pc = emit(g, O_SPLIT)) < 0)
					return;
				re->prog[pc].x = pc + 1;
				if (ns < 256)
					splits[ns++] = pc;
				else
					g->rc = -E2BIG;
				gen(g, n->kids[0]);
			}
			for (k = 0; k < ns && !g->rc; k++)
				re->prog[splits[k]].y = (int)re->n_prog;
		}
		break;
	case N_LOOK:
		if ((pc = emit(g, O_LOOK)) < 0)
			return;
		re->prog[pc].neg = n->neg;
		re->prog[pc].x = pc + 1;
		gen(g, n->kids[0]);
		emit(g, O_MATCH);
		if (!g->rc)
			re->prog[pc].y = (int)re->n_prog;
		break;
	}
}

int tl_pyregex_compile(const char *pattern, size_t len, struct tl_pyregex **out, char *err,
		       size_t errlen)
{
	struct parser ps = {pattern, pattern, pattern + len, err, errlen, 0, 0};
	struct gen g = {0};
	struct node *root;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	if (len > TL_PYREGEX_MAX_LEN) {
		snprintf(err, errlen, "longer than %d bytes", TL_PYREGEX_MAX_LEN);
		return -EINVAL;
	}
	root = parse_alt(&ps);
	if (root && ps.p < ps.end) {
		perr(&ps, "unbalanced parenthesis");
		node_free(root);
		root = NULL;
	}
	if (!root)
		return ps.rc ? ps.rc : -ENOMEM;
	g.re = calloc(1, sizeof(*g.re));
	if (!g.re) {
		node_free(root);
		return -ENOMEM;
	}
	gen(&g, root);
	emit(&g, O_MATCH);
	node_free(root);
	if (g.rc) {
		tl_pyregex_free(g.re);
		if (g.rc == -E2BIG) {
			snprintf(err, errlen,
				 "too large once repeats are expanded (more than %d "
				 "instructions or %d unbounded loops)",
				 TL_PYREGEX_MAX_PROG, MAX_REGS);
			return -EINVAL;
		}
		return g.rc;
	}
	{
		struct tl_pyregex *re = g.re;
		size_t pc;

		for (pc = 0; pc < re->n_prog && re->prog[pc].op == O_CHAR; pc++) {
			uint32_t c = re->prog[pc].c;
			char u[4];
			size_t k = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;

			if (re->n_prefix + k > sizeof(re->prefix))
				break;
			if (k == 1) {
				u[0] = (char)c;
			} else {
				u[0] = (char)((k == 2	? 0xc0
					       : k == 3 ? 0xe0
							: 0xf0) |
					      (c >> (6 * (k - 1))));
				for (size_t j = 1; j < k; j++)
					u[j] = (char)(0x80 | ((c >> (6 * (k - 1 - j))) & 0x3f));
			}
			memcpy(re->prefix + re->n_prefix, u, k);
			re->n_prefix += k;
		}
	}
	*out = g.re;
	return 0;
}

void tl_pyregex_free(struct tl_pyregex *re)
{
	if (!re)
		return;
	free(re->prog);
	free(re->rg);
	free(re);
}

/* --------------------------------------------------------------- machine */

static bool is_space(uint32_t c)
{
	return (c >= 9 && c <= 13) || c == ' ' || (c >= 0x1c && c <= 0x1f) || c == 0x85 ||
	       c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
	       c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

static bool is_digit(uint32_t c)
{
	return c >= '0' && c <= '9';
}

static bool is_word(uint32_t c)
{
	if (c < 0x80)
		return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		       c == '_';
	/* Approximation: letters of other scripts are words, spaces are not. */
	return c >= 0xaa && !is_space(c) && c != 0xd7 && c != 0xf7;
}

static bool in_class(const struct tl_pyregex *re, const struct inst *in, uint32_t c)
{
	bool hit = false;
	int i;

	if (((in->c & C_D) && is_digit(c)) || ((in->c & C_ND) && !is_digit(c)) ||
	    ((in->c & C_W) && is_word(c)) || ((in->c & C_NW) && !is_word(c)) ||
	    ((in->c & C_S) && is_space(c)) || ((in->c & C_NS) && !is_space(c)))
		hit = true;
	for (i = 0; i < in->y && !hit; i++)
		hit = c >= re->rg[in->x + i].lo && c <= re->rg[in->x + i].hi;
	return hit != in->neg;
}

struct frame {
	int pc; /* -1: restore register reg to sp */
	int reg;
	size_t sp;
};

struct vm {
	const struct tl_pyregex *re;
	const unsigned char *s;
	size_t len;
	size_t *regs;
	unsigned long steps;
};

/* The code point before position sp, or -1 at the start. */
static int64_t cp_before(const struct vm *m, size_t sp)
{
	size_t i = sp;
	uint32_t c;

	if (sp == 0)
		return -1;
	do
		i--;
	while (i > 0 && (m->s[i] & 0xc0) == 0x80);
	if (!tl_utf8_decode(m->s + i, m->s + m->len, &c))
		return -1;
	return c;
}

static bool assert_ok(const struct vm *m, uint32_t kind, size_t sp)
{
	bool wa, wb;
	uint32_t c;
	int64_t p;

	switch (kind) {
	case A_BEGIN:
		return sp == 0;
	case A_END:
		return sp == m->len || (sp + 1 == m->len && m->s[sp] == '\n');
	case A_STR_END:
		return sp == m->len;
	default:
		p = cp_before(m, sp);
		wa = p >= 0 && is_word((uint32_t)p);
		wb = sp < m->len && tl_utf8_decode(m->s + sp, m->s + m->len, &c) && is_word(c);
		return (wa != wb) == (kind == A_WORD_B);
	}
}

/* 1 when the program from pc matches at sp, 0, or a negative error. */
static int run(struct vm *m, int pc0, size_t sp0)
{
	struct frame local[128], *st = local, *v;
	size_t n = 0, cap = 128, sp;
	int pc, rc = 0;
	uint32_t c;
	size_t k;

	st[n++] = (struct frame){pc0, 0, sp0};
	while (n > 0) {
		struct frame f = st[--n];

		if (f.pc < 0) {
			m->regs[f.reg] = f.sp;
			continue;
		}
		pc = f.pc;
		sp = f.sp;
		for (;;) {
			const struct inst *in = &m->re->prog[pc];

			if (++m->steps > TL_PYREGEX_MAX_STEPS) {
				rc = -E2BIG;
				goto out;
			}
			if (in->op == O_CHAR || in->op == O_ANY || in->op == O_CLASS) {
				if (sp >= m->len)
					break;
				k = tl_utf8_decode(m->s + sp, m->s + m->len, &c);
				if (!k)
					break;
				if (in->op == O_CHAR  ? c != in->c
				    : in->op == O_ANY ? c == '\n'
						      : !in_class(m->re, in, c))
					break;
				sp += k;
				pc++;
				continue;
			}
			if (in->op == O_MATCH) {
				rc = 1;
				goto out;
			}
			if (in->op == O_JMP) {
				pc = in->x;
				continue;
			}
			if (in->op == O_ASSERT) {
				if (!assert_ok(m, in->c, sp))
					break;
				pc++;
				continue;
			}
			if (in->op == O_LOOK) {
				int r = run(m, in->x, sp);

				if (r < 0) {
					rc = r;
					goto out;
				}
				if ((r == 1) == in->neg)
					break;
				pc = in->y;
				continue;
			}
			/* SPLIT and MARK push a frame. */
			if (n + 1 >= cap) {
				if (st == local) {
					v = malloc(2 * cap * sizeof(*v));
					if (v)
						memcpy(v, local, n * sizeof(*v));
				} else {
					v = realloc(st, 2 * cap * sizeof(*v));
				}
				if (!v) {
					rc = -ENOMEM;
					goto out;
				}
				st = v;
				cap *= 2;
			}
			if (in->op == O_SPLIT) {
				st[n++] = (struct frame){in->y, 0, sp};
				pc = in->x;
			} else if (in->op == O_MARK) {
				st[n++] = (struct frame){-1, in->x, m->regs[in->x]};
				m->regs[in->x] = sp;
				pc++;
			} else { /* O_CHECK: an iteration that consumed nothing fails */
				if (m->regs[in->x] == sp)
					break;
				pc++;
			}
		}
	}
out:
	if (st != local)
		free(st);
	return rc;
}

int tl_pyregex_match(const struct tl_pyregex *re, const char *text, size_t len)
{
	size_t local[16], *regs = local;
	struct vm m;
	int rc;

	if (len < re->n_prefix || memcmp(text, re->prefix, re->n_prefix) != 0)
		return 0;
	if (!tl_utf8_valid(text, len))
		return -EINVAL;
	if (re->n_regs > 16) {
		regs = calloc((size_t)re->n_regs, sizeof(*regs));
		if (!regs)
			return -ENOMEM;
	}
	m.re = re;
	m.s = (const unsigned char *)text;
	m.len = len;
	m.regs = regs;
	m.steps = 0;
	rc = run(&m, 0, 0);
	if (regs != local)
		free(regs);
	return rc;
}
