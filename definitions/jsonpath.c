/*
 * jsonpath.c — jsonpath-rw-ext's dialect: a lexer with the original's token
 * rules in their order, a recursive-descent parser that resolves the
 * grammar's conflicts as its LALR parser does (docs/definitions.md
 * "JSONPath"), and an evaluator in continuation-passing style, so that
 * matches come out in the original's order without lists per step.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "definitions/jsonpath.h"

/* ---- the compiled program ---- */

enum node_type {
	N_ROOT,
	N_THIS,
	N_FIELDS,
	N_INDEX,
	N_SLICE,
	N_CHILD,
	N_DESC,
	N_UNION,
	N_WHERE,
	N_INTERSECT, /* parsed so that filters resolve as the original, then refused */
	N_FILTER,
	N_EXPR, /* one condition of a filter */
	N_OP,
	N_LIT, /* an operand of N_OP that is a constant */
	N_LEN,
	N_SPLIT,
};

enum { OP_ADD = 1, OP_SUB, OP_MUL };
enum { F_NONE = 0, F_EQ, F_NE, F_LT, F_LE, F_GT, F_GE };
enum { L_INT = 1, L_FLOAT, L_STR }; /* N_EXPR's value */

#define NONE UINT16_MAX

struct node {
	uint8_t type;
	uint8_t op;	  /* N_OP: OP_*; N_EXPR: F_* */
	uint8_t lit;	  /* N_EXPR: L_* */
	uint8_t wildcard; /* N_FIELDS: '*' among the names */
	uint8_t has_start, has_end;
	/* A plain path ([$|@].name.name..., at most FAST_MAX names): looked up
	 * in a loop, without continuations. plain: 0 no, else 1 + names. */
	uint8_t plain, plain_root;
	uint16_t plain_at; /* its names: plain_names[plain_at..] */
	uint16_t a, b;	   /* children: CHILD/DESC/UNION/WHERE/OP (left, right), FILTER (first
			      expression), EXPR (target); FIELDS: first name, b: count */
	uint16_t next;	   /* N_EXPR: the next condition of the filter */
	uint32_t off;	   /* byte offset in the expression */
	int64_t i;	   /* INDEX; SLICE start; EXPR integer; SPLIT segment */
	int64_t j;	   /* SLICE end; SPLIT maxsplit */
	double d;	   /* EXPR float */
	const char *s;	   /* EXPR string; SPLIT separator (one code point) */
	uint32_t slen;
	struct tl_json val; /* N_LIT */
};

struct name {
	const char *s;
	uint32_t len;
};

#define FAST_MAX 16

struct tl_jsonpath {
	char *text;
	struct node *nodes;
	struct name *names;
	uint16_t *plain_names; /* indexes into names */
	uint16_t nnodes, nnames, top;
};

/* ---- lexer: jsonpath-rw's rules, in the order its lexer tries them ---- */

enum tok_type {
	T_END,
	T_CHAR, /* a literal: * . [ ] ( ) $ , : | & ? @ + - */
	T_ID,
	T_NUMBER,
	T_FLOAT,
	T_BOOL,
	T_NAMED, /* `...` */
	T_DOUBLEDOT,
	T_FILTER_OP,
	T_SORT,
	T_WHERE,
};

struct token {
	uint8_t type;
	char ch;    /* T_CHAR */
	uint8_t op; /* T_FILTER_OP: F_*, 0 for '~' */
	uint32_t off;
	const char *s; /* ID, NAMED: unescaped, NUL-terminated, in the pool */
	uint32_t slen;
	int64_t i;  /* NUMBER, BOOL */
	double d;   /* FLOAT */
	bool range; /* NUMBER: outside int64 */
};

struct parser {
	const char *src;
	size_t len;
	struct token *toks;
	size_t ntoks, pos;
	char *pool;
	size_t pool_used;
	struct node *nodes;
	size_t nnodes;
	struct name *names;
	size_t nnames;
	char *err;
	size_t errlen;
	bool failed;
	unsigned nest; /* recursion of parse_expr: parentheses make no node */
};

static int fail(struct parser *ps, uint32_t off, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct parser *ps, uint32_t off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ps->failed)
		return -EINVAL;
	ps->failed = true;
	if (!ps->err || !ps->errlen)
		return -EINVAL;
	n = snprintf(ps->err, ps->errlen, "offset %u: ", (unsigned)off);
	if (n >= 0 && (size_t)n < ps->errlen) {
		va_start(ap, fmt);
		vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}
static bool is_id_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static bool is_id_char(char c)
{
	return is_id_start(c) || is_digit(c) || c == '@' || c == '-';
}
/* Python's \s for ASCII, which is all the sort rule needs here. */
static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* ,?\s*(/|\\) at s: the length, or 0. */
static bool sort_direction(const char *s, size_t rest, size_t *len)
{
	size_t k = *s == ',';

	while (k < rest && is_space(s[k]))
		k++;
	if (k < rest && (s[k] == '/' || s[k] == '\\')) {
		*len = k + 1;
		return true;
	}
	return false;
}

static const char *tok_name(const struct token *t)
{
	switch ((enum tok_type)t->type) {
	case T_END:
		return "the end";
	case T_ID:
		return "a name";
	case T_NUMBER:
		return "an integer";
	case T_FLOAT:
		return "a float";
	case T_BOOL:
		return "true/false";
	case T_NAMED:
		return "a named operator";
	case T_DOUBLEDOT:
		return "'..'";
	case T_FILTER_OP:
		return "a comparison";
	case T_SORT:
		return "a sort direction";
	case T_WHERE:
		return "'where'";
	case T_CHAR:
		break;
	}
	return "a symbol";
}

/* A quoted name or named operator from src[i] (the quote); escapes \x give x. */
static int lex_quoted(struct parser *ps, size_t *pi, struct token *t)
{
	char q = ps->src[*pi];
	size_t i = *pi + 1;
	char *out = ps->pool + ps->pool_used;
	size_t n = 0;

	for (;;) {
		if (i >= ps->len)
			return fail(ps, (uint32_t)*pi, "the quoted %s is not closed",
				    q == '`' ? "operator" : "name");
		if (ps->src[i] == q)
			break;
		if (ps->src[i] == '\\') {
			if (i + 1 >= ps->len || ps->src[i + 1] == '\n')
				return fail(ps, (uint32_t)i, "a backslash must escape a character");
			i++;
		}
		out[n++] = ps->src[i++];
	}
	out[n] = '\0';
	ps->pool_used += n + 1;
	t->type = q == '`' ? T_NAMED : T_ID;
	t->s = out;
	t->slen = (uint32_t)n;
	*pi = i + 1;
	return 0;
}

static int lex(struct parser *ps)
{
	size_t i = 0;

	while (i <= ps->len) {
		struct token *t = &ps->toks[ps->ntoks];
		const char *s = ps->src + i;
		size_t rest = ps->len - i, k;

		memset(t, 0, sizeof(*t));
		t->off = (uint32_t)i;
		if (i == ps->len) {
			t->type = T_END;
			ps->ntoks++;
			return 0;
		}
		if (*s == ' ' || *s == '\t' || *s == '\n') {
			i++;
			continue;
		}
		/* true|false wins over a name that starts with them, as in the original. */
		if (rest >= 4 && memcmp(s, "true", 4) == 0) {
			t->type = T_BOOL, t->i = 1, i += 4;
		} else if (rest >= 5 && memcmp(s, "false", 5) == 0) {
			t->type = T_BOOL, t->i = 0, i += 5;
		} else if (sort_direction(s, rest, &k)) {
			t->type = T_SORT;
			i += k;
		} else if (is_id_start(*s) || (*s == '@' && rest > 1 && is_id_start(s[1]))) {
			char *out = ps->pool + ps->pool_used;

			k = 1;
			while (k < rest && is_id_char(s[k]))
				k++;
			memcpy(out, s, k);
			out[k] = '\0';
			ps->pool_used += k + 1;
			t->type = (k == 5 && memcmp(s, "where", 5) == 0) ? T_WHERE : T_ID;
			t->s = out;
			t->slen = (uint32_t)k;
			i += k;
		} else if (is_digit(*s) || (*s == '-' && rest > 1 && is_digit(s[1]))) {
			size_t d0 = *s == '-', e = d0;
			char buf[64];

			while (e < rest && is_digit(s[e]))
				e++;
			if (e + 1 < rest && s[e] == '.' && is_digit(s[e + 1])) {
				e++;
				while (e < rest && is_digit(s[e]))
					e++;
				if (e >= sizeof(buf))
					return fail(ps, (uint32_t)i,
						    "the float has too many digits");
				memcpy(buf, s, e);
				buf[e] = '\0';
				t->type = T_FLOAT;
				t->d = strtod(buf, NULL);
			} else {
				int64_t v = 0;

				t->type = T_NUMBER;
				for (k = d0; k < e; k++) {
					int dg = s[k] - '0';

					if (v > (INT64_MAX - dg) / 10)
						t->range = true;
					else
						v = v * 10 + dg;
				}
				t->i = d0 ? -v : v;
			}
			i += e;
		} else if (*s == '\'' || *s == '"' || *s == '`') {
			int rc = lex_quoted(ps, &i, t);

			if (rc)
				return rc;
		} else if (*s == '=' || *s == '<' || *s == '>' || *s == '!' || *s == '~') {
			t->type = T_FILTER_OP;
			if (*s == '=') {
				t->op = F_EQ, i += (rest > 1 && s[1] == '=') ? 2 : 1;
			} else if (*s == '~') {
				t->op = F_NONE, i++;
			} else if (rest > 1 && s[1] == '=') {
				t->op = *s == '<' ? F_LE : *s == '>' ? F_GE : F_NE;
				i += 2;
			} else if (*s == '!') {
				return fail(ps, (uint32_t)i, "unexpected character '!'");
			} else {
				t->op = *s == '<' ? F_LT : F_GT, i++;
			}
		} else if (rest >= 2 && s[0] == '.' && s[1] == '.') {
			t->type = T_DOUBLEDOT;
			i += 2;
		} else if (*s && strchr("*.[]()$,:|&?@+-", *s)) {
			t->type = T_CHAR;
			t->ch = *s;
			i++;
		} else {
			unsigned char c = (unsigned char)*s;

			if (c >= 0x20 && c < 0x7f)
				return fail(ps, (uint32_t)i, "unexpected character '%c'", *s);
			return fail(ps, (uint32_t)i, "unexpected byte 0x%02x", c);
		}
		ps->ntoks++;
	}
	return 0;
}

/* ---- parser ---- */

static const struct token *peek(const struct parser *ps)
{
	return &ps->toks[ps->pos];
}
static const struct token *peek2(const struct parser *ps)
{
	return ps->pos + 1 < ps->ntoks ? &ps->toks[ps->pos + 1] : &ps->toks[ps->ntoks - 1];
}
static bool is_char(const struct token *t, char c)
{
	return t->type == T_CHAR && t->ch == c;
}
static bool is_arith(const struct token *t)
{
	return t->type == T_CHAR && (t->ch == '+' || t->ch == '-' || t->ch == '*');
}

static int unexpected(struct parser *ps)
{
	const struct token *t = peek(ps);

	if (t->type == T_CHAR)
		return fail(ps, t->off, "unexpected '%c'", t->ch);
	if (t->type == T_SORT)
		return fail(ps, t->off, "sorting ([/field], [\\field]) is not supported");
	if (t->type == T_FILTER_OP && t->op == F_NONE)
		return fail(ps, t->off, "the regular expression filter '~' is not supported");
	return fail(ps, t->off, "unexpected %s", tok_name(t));
}

static int new_node(struct parser *ps, enum node_type type, uint32_t off, uint16_t *out)
{
	struct node *n;

	if (ps->nnodes >= TL_JSONPATH_MAX_NODES)
		return fail(ps, off, "the expression has more than %d nodes",
			    TL_JSONPATH_MAX_NODES);
	n = &ps->nodes[ps->nnodes];
	memset(n, 0, sizeof(*n));
	n->type = (uint8_t)type;
	n->off = off;
	n->a = n->b = n->next = NONE;
	*out = (uint16_t)ps->nnodes++;
	return 0;
}

static int binary(struct parser *ps, enum node_type type, uint32_t off, uint16_t a, uint16_t b,
		  uint16_t *out)
{
	int rc = new_node(ps, type, off, out);

	if (rc)
		return rc;
	ps->nodes[*out].a = a;
	ps->nodes[*out].b = b;
	return 0;
}

static int parse_expr(struct parser *ps, int min_prec, uint16_t *out);

/* A number as an operand of arithmetic. */
static int literal(struct parser *ps, const struct token *t, uint16_t *out)
{
	int rc;

	if (t->type == T_NUMBER && t->range)
		return fail(ps, t->off, "the integer is outside 64 bits");
	rc = new_node(ps, N_LIT, t->off, out);
	if (rc)
		return rc;
	if (t->type == T_NUMBER) {
		ps->nodes[*out].val.type = TL_JSON_INT;
		ps->nodes[*out].val.u.i = t->i;
	} else {
		ps->nodes[*out].val.type = TL_JSON_REAL;
		ps->nodes[*out].val.u.d = t->d;
	}
	return 0;
}

/*
 * The original turns an operand that is a single field name into the
 * string itself ("_" in $.a + "_" + $.b).
 */
static void operand(struct parser *ps, uint16_t id)
{
	struct node *n = &ps->nodes[id];

	if (n->type == N_FIELDS && n->b == 1) {
		const struct name *nm = &ps->names[n->a];

		n->type = N_LIT;
		n->val.type = TL_JSON_STRING;
		n->val.u.s = nm->s;
		n->val.len = nm->len;
	}
}

/* Its grammar has NUMBER op NUMBER and FLOAT op FLOAT, not the mixes. */
static int make_op(struct parser *ps, const struct token *optok, uint16_t l, uint16_t r,
		   uint16_t *out)
{
	const struct node *ln = &ps->nodes[l], *rn = &ps->nodes[r];
	int rc;

	if (ln->type == N_LIT && rn->type == N_LIT && ln->val.type != rn->val.type)
		return fail(ps, rn->off, "an integer and a float cannot be combined directly");
	rc = binary(ps, N_OP, optok->off, l, r, out);
	if (rc)
		return rc;
	ps->nodes[*out].op = optok->ch == '+' ? OP_ADD : optok->ch == '-' ? OP_SUB : OP_MUL;
	operand(ps, l);
	operand(ps, r);
	return 0;
}

/*
 * What follows an arithmetic operator. The original's rules for it have no
 * precedence, so its parser always shifts: the operator is right-associative
 * and its right side takes every path operator that follows; a bare number
 * ends it unless another arithmetic operator follows.
 */
static int parse_arith_rhs(struct parser *ps, uint16_t *out)
{
	const struct token *t = peek(ps);

	if (t->type == T_NUMBER || t->type == T_FLOAT) {
		const struct token *op = peek2(ps);
		uint16_t lit, rhs;
		int rc;

		rc = literal(ps, t, &lit);
		if (rc)
			return rc;
		ps->pos++;
		if (!is_arith(op)) {
			*out = lit;
			return 0;
		}
		ps->pos++;
		rc = parse_arith_rhs(ps, &rhs);
		if (rc)
			return rc;
		return make_op(ps, op, lit, rhs, out);
	}
	return parse_expr(ps, 0, out);
}

static int parse_fields(struct parser *ps, uint16_t *out)
{
	const struct token *t = peek(ps);
	uint16_t id;
	int rc = new_node(ps, N_FIELDS, t->off, &id);

	if (rc)
		return rc;
	ps->nodes[id].a = (uint16_t)ps->nnames;
	ps->nodes[id].b = 0;
	for (;;) {
		t = peek(ps);
		if (t->type != T_ID)
			return unexpected(ps);
		if (ps->nnames >= TL_JSONPATH_MAX_NODES)
			return fail(ps, t->off, "the expression has more than %d names",
				    TL_JSONPATH_MAX_NODES);
		ps->names[ps->nnames].s = t->s;
		ps->names[ps->nnames].len = t->slen;
		ps->nnames++;
		ps->nodes[id].b++;
		if (t->slen == 1 && t->s[0] == '*')
			ps->nodes[id].wildcard = 1;
		ps->pos++;
		if (!is_char(peek(ps), ',') || peek2(ps)->type != T_ID)
			break;
		ps->pos++;
	}
	*out = id;
	return 0;
}

static int expect(struct parser *ps, char c)
{
	if (!is_char(peek(ps), c))
		return unexpected(ps);
	ps->pos++;
	return 0;
}

static int parse_filter(struct parser *ps, uint16_t *out);

/* '[' already consumed: an index, a slice, names, a filter (postfix only). */
static int parse_bracket(struct parser *ps, bool postfix, uint16_t *out)
{
	const struct token *t = peek(ps);
	int rc;

	if (is_char(t, '?')) {
		if (!postfix)
			return fail(ps, t->off, "a filter must follow a path");
		ps->pos++;
		rc = parse_filter(ps, out);
	} else if (is_char(t, '*')) {
		rc = new_node(ps, N_SLICE, t->off, out);
		ps->pos++;
	} else if (t->type == T_ID) {
		rc = parse_fields(ps, out);
	} else if (t->type == T_NUMBER || is_char(t, ':')) {
		const struct token *start = t->type == T_NUMBER ? t : NULL;

		if (start && start->range)
			return fail(ps, t->off, "the integer is outside 64 bits");
		if (start && !is_char(peek2(ps), ':')) {
			rc = new_node(ps, N_INDEX, t->off, out);
			if (rc)
				return rc;
			ps->nodes[*out].i = start->i;
			ps->pos++;
		} else {
			rc = new_node(ps, N_SLICE, t->off, out);
			if (rc)
				return rc;
			if (start) {
				ps->nodes[*out].has_start = 1;
				ps->nodes[*out].i = start->i;
				ps->pos++;
			}
			ps->pos++; /* ':' */
			t = peek(ps);
			if (t->type == T_NUMBER) {
				if (t->range)
					return fail(ps, t->off, "the integer is outside 64 bits");
				ps->nodes[*out].has_end = 1;
				ps->nodes[*out].j = t->i;
				ps->pos++;
			}
		}
	} else {
		return unexpected(ps);
	}
	if (rc)
		return rc;
	return expect(ps, ']');
}

static int parse_named(struct parser *ps, const struct token *t, uint16_t *out)
{
	const char *s = t->s;
	int rc;

	if (strcmp(s, "this") == 0)
		return new_node(ps, N_THIS, t->off, out);
	if (strcmp(s, "len") == 0)
		return new_node(ps, N_LEN, t->off, out);
	if (strncmp(s, "split(", 6) == 0) {
		/* split\((.),\s+(\d+),\s+(\d+|-1)\) matched at the start, as the original. */
		const unsigned char *p = (const unsigned char *)s + 6,
				    *end = p + strlen((const char *)p);
		uint32_t cp;
		size_t n = p < end ? tl_utf8_decode(p, end, &cp) : 0;
		int64_t seg = 0, max = 0;
		bool neg = false;

		if (n == 0 || *p == '\n')
			goto bad_split;
		rc = new_node(ps, N_SPLIT, t->off, out);
		if (rc)
			return rc;
		ps->nodes[*out].s = (const char *)p;
		ps->nodes[*out].slen = (uint32_t)n;
		p += n;
		for (int f = 0; f < 2; f++) {
			int64_t *v = f == 0 ? &seg : &max;

			if (*p != ',' || !is_space((char)p[1]))
				goto bad_split;
			p++;
			while (is_space((char)*p))
				p++;
			if (f == 1 && p[0] == '-' && p[1] == '1' && !is_digit((char)p[2])) {
				neg = true;
				p += 2;
			} else {
				if (!is_digit((char)*p))
					goto bad_split;
				while (is_digit((char)*p)) {
					/* larger than any string: as good as infinite */
					if (*v < INT32_MAX)
						*v = *v * 10 + (*p - '0');
					p++;
				}
			}
		}
		if (*p != ')')
			goto bad_split;
		ps->nodes[*out].i = seg;
		ps->nodes[*out].j = neg ? -1 : max;
		return 0;
	bad_split:
		return fail(ps, t->off,
			    "`%s` is not valid: `split(C, SEGMENT, MAX_SPLIT)` expected", s);
	}
	if (strcmp(s, "parent") == 0 || strcmp(s, "sorted") == 0 || strncmp(s, "sub(", 4) == 0)
		return fail(ps, t->off, "the named operator `%.40s` is not supported", s);
	return fail(ps, t->off, "unknown named operator `%.40s`", s);
}

/* Postfix brackets on node. */
static int parse_postfix(struct parser *ps, uint16_t *node)
{
	while (is_char(peek(ps), '[')) {
		uint32_t off = peek(ps)->off;
		uint16_t r, c;
		int rc;

		ps->pos++;
		rc = parse_bracket(ps, true, &r);
		if (rc)
			return rc;
		rc = binary(ps, N_CHILD, off, *node, r, &c);
		if (rc)
			return rc;
		*node = c;
	}
	return 0;
}

static int parse_operand(struct parser *ps, uint16_t *out)
{
	const struct token *t = peek(ps);
	int rc;

	switch ((enum tok_type)t->type) {
	case T_NUMBER:
	case T_FLOAT: {
		const struct token *op = peek2(ps);
		uint16_t lit, rhs;

		if (!is_arith(op))
			return fail(ps, t->off, "a number alone is not a path");
		rc = literal(ps, t, &lit);
		if (rc)
			return rc;
		ps->pos += 2;
		rc = parse_arith_rhs(ps, &rhs);
		if (rc)
			return rc;
		rc = make_op(ps, op, lit, rhs, out);
		break;
	}
	case T_ID:
		rc = parse_fields(ps, out);
		break;
	case T_NAMED:
		rc = parse_named(ps, t, out);
		ps->pos++;
		break;
	case T_CHAR:
		if (t->ch == '$' || t->ch == '@') {
			rc = new_node(ps, t->ch == '$' ? N_ROOT : N_THIS, t->off, out);
			ps->pos++;
		} else if (t->ch == '*') {
			/* the name list of the wildcard alone */
			rc = new_node(ps, N_FIELDS, t->off, out);
			if (rc)
				return rc;
			if (ps->nnames >= TL_JSONPATH_MAX_NODES)
				return fail(ps, t->off, "too many names");
			ps->names[ps->nnames].s = "*";
			ps->names[ps->nnames].len = 1;
			ps->nodes[*out].a = (uint16_t)ps->nnames++;
			ps->nodes[*out].b = 1;
			ps->nodes[*out].wildcard = 1;
			ps->pos++;
		} else if (t->ch == '[') {
			ps->pos++;
			rc = parse_bracket(ps, false, out);
		} else if (t->ch == '(') {
			ps->pos++;
			rc = parse_expr(ps, 0, out);
			if (!rc)
				rc = expect(ps, ')');
		} else {
			return unexpected(ps);
		}
		break;
	default:
		return unexpected(ps);
	}
	return rc;
}

static int path_prec(const struct token *t)
{
	if (t->type == T_DOUBLEDOT)
		return 1;
	if (t->type == T_WHERE)
		return 5;
	if (t->type != T_CHAR)
		return 0;
	return t->ch == '.' ? 2 : t->ch == '|' ? 3 : t->ch == '&' ? 4 : 0;
}

/*
 * Path operators by precedence (low to high: '..', '.', '|', '&', 'where'),
 * all left-associative; below them postfix brackets, which a token without
 * precedence ('[') loses against a rule with one in the original's parser
 * (a|b[0] is (a|b)[0]); below them arithmetic, on its left side (see
 * parse_arith_rhs for its right side).
 */
static int parse_expr_in(struct parser *ps, int min_prec, uint16_t *out);

static int parse_expr(struct parser *ps, int min_prec, uint16_t *out)
{
	int rc;

	if (ps->nest >= 2 * TL_JSONPATH_MAX_DEPTH)
		return fail(ps, peek(ps)->off, "the expression nests deeper than %d levels",
			    2 * TL_JSONPATH_MAX_DEPTH);
	ps->nest++;
	rc = parse_expr_in(ps, min_prec, out);
	ps->nest--;
	return rc;
}

static int parse_expr_in(struct parser *ps, int min_prec, uint16_t *out)
{
	uint16_t lhs;
	int rc = parse_operand(ps, &lhs);

	if (rc)
		return rc;
	for (;;) {
		const struct token *t = peek(ps);
		int prec = path_prec(t);
		uint16_t rhs, n;

		if (prec > 0 && prec >= min_prec) {
			enum node_type type = prec == 1	  ? N_DESC
					      : prec == 2 ? N_CHILD
					      : prec == 3 ? N_UNION
					      : prec == 4 ? N_INTERSECT
							  : N_WHERE;
			ps->pos++;
			rc = parse_expr(ps, prec + 1, &rhs);
			if (rc)
				return rc;
			rc = binary(ps, type, t->off, lhs, rhs, &n);
		} else if (is_arith(t) && min_prec == 0) {
			ps->pos++;
			rc = parse_arith_rhs(ps, &rhs);
			if (rc)
				return rc;
			rc = make_op(ps, t, lhs, rhs, &n);
		} else if (is_char(t, '[') && min_prec == 0) {
			n = lhs;
			rc = parse_postfix(ps, &n);
		} else {
			break;
		}
		if (rc)
			return rc;
		lhs = n;
	}
	*out = lhs;
	return 0;
}

/* A condition: a path, and optionally a comparison with a constant. */
static int parse_condition(struct parser *ps, uint16_t *out)
{
	uint16_t target, id;
	const struct token *t;
	int rc = parse_expr(ps, 0, &target);

	if (rc)
		return rc;
	rc = new_node(ps, N_EXPR, ps->nodes[target].off, &id);
	if (rc)
		return rc;
	ps->nodes[id].a = target;
	t = peek(ps);
	if (t->type != T_FILTER_OP) {
		*out = id;
		return 0;
	}
	if (t->op == F_NONE)
		return unexpected(ps);
	ps->nodes[id].op = t->op;
	ps->pos++;
	t = peek(ps);
	switch ((enum tok_type)t->type) {
	case T_ID:
		ps->nodes[id].lit = L_STR;
		ps->nodes[id].s = t->s;
		ps->nodes[id].slen = t->slen;
		break;
	case T_NUMBER:
		if (t->range)
			return fail(ps, t->off, "the integer is outside 64 bits");
		/* fall through */
	case T_BOOL: /* a bool is an int in Python */
		ps->nodes[id].lit = L_INT;
		ps->nodes[id].i = t->i;
		break;
	case T_FLOAT:
		ps->nodes[id].lit = L_FLOAT;
		ps->nodes[id].d = t->d;
		break;
	default:
		return unexpected(ps);
	}
	ps->pos++;
	*out = id;
	return 0;
}

static int parse_conditions(struct parser *ps, uint16_t *first, uint16_t *last);

/*
 * One condition or a parenthesized group of them. A '(' may open a path
 * ("(@.a)=1") or a group ("(@.a=1)"): the original's parser takes the path
 * when it can (it shifts), so try that first.
 */
static int parse_group(struct parser *ps, uint16_t *first, uint16_t *last)
{
	if (is_char(peek(ps), '(')) {
		size_t pos = ps->pos, nn = ps->nnodes, nm = ps->nnames;
		const struct token *t;
		int rc = parse_condition(ps, first);

		t = peek(ps);
		if (rc == 0 && (is_char(t, '&') || is_char(t, ']') || is_char(t, ')'))) {
			*last = *first;
			return 0;
		}
		if (rc == -ENOMEM)
			return rc;
		ps->failed = false;
		ps->pos = pos + 1;
		ps->nnodes = nn;
		ps->nnames = nm;
		rc = parse_conditions(ps, first, last);
		if (rc)
			return rc;
		return expect(ps, ')');
	}
	*last = NONE;
	{
		int rc = parse_condition(ps, first);

		*last = *first;
		return rc;
	}
}

static int parse_conditions(struct parser *ps, uint16_t *first, uint16_t *last)
{
	int rc = parse_group(ps, first, last);

	while (rc == 0 && is_char(peek(ps), '&')) {
		uint16_t f2, l2;

		ps->pos++;
		rc = parse_group(ps, &f2, &l2);
		if (rc)
			return rc;
		ps->nodes[*last].next = f2;
		*last = l2;
	}
	return rc;
}

static int parse_filter(struct parser *ps, uint16_t *out)
{
	uint16_t first, last;
	int rc = new_node(ps, N_FILTER, peek(ps)->off, out);

	if (rc)
		return rc;
	rc = parse_conditions(ps, &first, &last);
	if (rc)
		return rc;
	ps->nodes[*out].a = first;
	return 0;
}

/* Depth of the tree, and what is refused after parsing. */
static int check(struct parser *ps, uint16_t id, unsigned depth)
{
	const struct node *n;
	int rc;

	if (id == NONE)
		return 0;
	n = &ps->nodes[id];
	if (depth > TL_JSONPATH_MAX_DEPTH)
		return fail(ps, n->off, "the expression nests deeper than %d",
			    TL_JSONPATH_MAX_DEPTH);
	if (n->type == N_INTERSECT)
		return fail(ps, n->off, "'&' outside a filter (an intersection) is not supported");
	if (n->type == N_FIELDS || n->type == N_LIT)
		return 0;
	rc = check(ps, n->a, depth + 1);
	if (!rc && n->type != N_FILTER && n->type != N_EXPR)
		rc = check(ps, n->b, depth + 1);
	if (!rc && n->type == N_EXPR)
		rc = check(ps, n->next, depth);
	return rc;
}

/* Whether node id is a plain path; appends its names to out. */
static bool plain_path(const struct parser *ps, uint16_t id, uint16_t *out, size_t *n, bool *root,
		       bool leftmost)
{
	const struct node *nd = &ps->nodes[id];

	switch (nd->type) {
	case N_ROOT:
		*root = true;
		return leftmost;
	case N_THIS:
		return true;
	case N_FIELDS:
		if (nd->b != 1 || nd->wildcard || *n >= FAST_MAX)
			return false;
		out[(*n)++] = nd->a;
		return true;
	case N_CHILD:
		return plain_path(ps, nd->a, out, n, root, leftmost) &&
		       plain_path(ps, nd->b, out, n, root, false);
	default:
		return false;
	}
}

/* Marks the plain paths; their names go to ps->plain (count in *used). */
static void find_plain(struct parser *ps, uint16_t *plain, size_t *used)
{
	for (size_t id = 0; id < ps->nnodes; id++) {
		uint16_t names[FAST_MAX];
		size_t n = 0;
		bool root = false;

		if (!plain_path(ps, (uint16_t)id, names, &n, &root, true))
			continue;
		ps->nodes[id].plain = (uint8_t)(n + 1);
		ps->nodes[id].plain_root = root;
		ps->nodes[id].plain_at = (uint16_t)*used;
		memcpy(plain + *used, names, n * sizeof(*names));
		*used += n;
	}
}

int tl_jsonpath_compile(const char *expr, size_t len, struct tl_jsonpath **out, char *err,
			size_t errlen)
{
	struct parser ps;
	struct tl_jsonpath *p = NULL;
	uint16_t top = 0, *plain = NULL;
	size_t nplain = 0;
	int rc;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	memset(&ps, 0, sizeof(ps));
	ps.src = expr;
	ps.len = len;
	ps.err = err;
	ps.errlen = errlen;
	if (len > TL_JSONPATH_MAX_LEN)
		return fail(&ps, 0, "the expression is longer than %d bytes", TL_JSONPATH_MAX_LEN);
	ps.toks = calloc(len + 2, sizeof(*ps.toks));
	ps.pool = malloc(2 * len + 2);
	ps.nodes = malloc(TL_JSONPATH_MAX_NODES * sizeof(*ps.nodes));
	ps.names = malloc(TL_JSONPATH_MAX_NODES * sizeof(*ps.names));
	if (!ps.toks || !ps.pool || !ps.nodes || !ps.names) {
		rc = -ENOMEM;
		goto out;
	}
	rc = lex(&ps);
	if (!rc)
		rc = parse_expr(&ps, 0, &top);
	if (!rc && peek(&ps)->type != T_END)
		rc = unexpected(&ps);
	if (!rc)
		rc = check(&ps, top, 1);
	if (rc)
		goto out;
	plain = malloc(ps.nnodes * FAST_MAX * sizeof(*plain) + 1);
	if (!plain) {
		rc = -ENOMEM;
		goto out;
	}
	find_plain(&ps, plain, &nplain);
	{
		/* One block: the program, its nodes, names, strings and text. */
		size_t nodes_sz = ps.nnodes * sizeof(struct node);
		size_t names_sz = ps.nnames * sizeof(struct name);
		size_t plain_sz = nplain * sizeof(*plain);
		size_t sz = sizeof(*p) + nodes_sz + names_sz + plain_sz + ps.pool_used + len + 1;
		char *base = malloc(sz), *pool;

		if (!base) {
			rc = -ENOMEM;
			goto out;
		}
		p = (struct tl_jsonpath *)base;
		memset(p, 0, sizeof(*p));
		p->nodes = (struct node *)(base + sizeof(*p));
		p->names = (struct name *)((char *)p->nodes + nodes_sz);
		p->plain_names = (uint16_t *)((char *)p->names + names_sz);
		pool = (char *)p->plain_names + plain_sz;
		p->text = pool + ps.pool_used;
		if (ps.pool_used)
			memcpy(pool, ps.pool, ps.pool_used);
		memcpy(p->text, expr, len);
		p->text[len] = '\0';
		if (nodes_sz)
			memcpy(p->nodes, ps.nodes, nodes_sz);
		if (names_sz)
			memcpy(p->names, ps.names, names_sz);
		if (plain_sz)
			memcpy(p->plain_names, plain, plain_sz);
			/* Move the string pointers into the copy of the pool. */
#define REBASE(ptr)                                                     \
	do {                                                            \
		if ((ptr) >= ps.pool && (ptr) < ps.pool + ps.pool_used) \
			(ptr) = pool + ((ptr)-ps.pool);                 \
	} while (0)
		for (size_t k = 0; k < ps.nnodes; k++) {
			struct node *n = &p->nodes[k];

			if (n->s)
				REBASE(n->s);
			if (n->type == N_LIT && n->val.type == TL_JSON_STRING)
				REBASE(n->val.u.s);
		}
		for (size_t k = 0; k < ps.nnames; k++)
			REBASE(p->names[k].s);
#undef REBASE
		p->nnodes = (uint16_t)ps.nnodes;
		p->nnames = (uint16_t)ps.nnames;
		p->top = top;
		*out = p;
	}
out:
	free(plain);
	free(ps.toks);
	free(ps.pool);
	free(ps.nodes);
	free(ps.names);
	return rc;
}

void tl_jsonpath_free(struct tl_jsonpath *p)
{
	free(p);
}

const char *tl_jsonpath_text(const struct tl_jsonpath *p)
{
	return p->text;
}

/* ---- results and their arena ---- */

void tl_jsonpath_result_init(struct tl_jsonpath_result *r)
{
	memset(r, 0, sizeof(*r));
	tl_json_doc_init(&r->arena);
}

void tl_jsonpath_result_reset(struct tl_jsonpath_result *r)
{
	r->count = 0;
	tl_json_doc_reset(&r->arena);
	r->computed_bytes = 0;
	r->sp = 0;
	r->work = 0;
	r->depth = 0;
}

void tl_jsonpath_result_fini(struct tl_jsonpath_result *r)
{
	if (!r)
		return;
	tl_json_doc_fini(&r->arena);
	free(r->matches);
	free(r->stack);
	memset(r, 0, sizeof(*r));
}

/* ---- evaluation ---- */

struct datum {
	const struct tl_json *v;
	const struct datum *ctx; /* the container it was found in; NULL at a root */
	bool computed;
	/* Where in ctx (jsonpath-rw's path of a datum in context): the key
	 * name[0..nlen) or, when name is NULL, the index. */
	const char *name;
	uint32_t nlen;
	int64_t index;
};

struct ev;
struct kont;
typedef int (*kont_fn)(struct ev *E, const struct kont *k, const struct datum *d);
struct kont {
	kont_fn fn;
	const struct kont *next;
	uint16_t node;
	void *arg;
};

struct ev {
	const struct tl_jsonpath *p;
	struct tl_jsonpath_result *r;
};

#define MAX_EVAL_DEPTH 3000

static int find(struct ev *E, uint16_t id, const struct datum *d, const struct kont *k);

static int emit(struct ev *E, const struct kont *k, const struct datum *d)
{
	return k->fn(E, k, d);
}

static int new_value(struct ev *E, const struct tl_json **out, struct tl_json **v, size_t extra)
{
	struct tl_jsonpath_result *r = E->r;

	if (r->computed_bytes + extra > TL_JSONPATH_MAX_COMPUTED)
		return TL_JSONPATH_E_LIMIT;
	r->computed_bytes += extra + sizeof(struct tl_json);
	*v = tl_json_doc_alloc(&r->arena, sizeof(struct tl_json) + extra);
	if (!*v)
		return -ENOMEM;
	memset(*v, 0, sizeof(**v));
	*out = *v;
	return 0;
}

static int new_string(struct ev *E, const char *a, size_t alen, const char *b, size_t blen,
		      const struct tl_json **out)
{
	struct tl_json *v;
	int rc;

	if (alen + blen > UINT32_MAX)
		return TL_JSONPATH_E_LIMIT;
	rc = new_value(E, out, &v, alen + blen + 1);
	if (rc)
		return rc;
	{
		char *s = (char *)(v + 1);

		memcpy(s, a, alen);
		if (blen)
			memcpy(s + alen, b, blen);
		s[alen + blen] = '\0';
		v->type = TL_JSON_STRING;
		v->u.s = s;
		v->len = (uint32_t)(alen + blen);
	}
	return 0;
}

/* Code points of a UTF-8 string (the document's strings are valid). */
static size_t cp_count(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

/* Byte offset of code point k. */
static size_t cp_offset(const char *s, size_t len, size_t k)
{
	size_t i = 0;

	for (; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80 && k-- == 0)
			return i;
	return len;
}

/* Whether member i of obj is the first of its key (Python's dicts keep one). */
static bool first_of_key(const struct tl_json *obj, size_t i)
{
	const struct tl_json_member *m = &obj->u.members[i];

	for (size_t j = 0; j < i; j++) {
		const struct tl_json_member *o = &obj->u.members[j];

		if (o->klen == m->klen && memcmp(o->key, m->key, m->klen) == 0)
			return false;
	}
	return true;
}

/* The value Python's dict keeps for a key: the last one. */
static const struct tl_json *lookup(const struct tl_json *obj, const char *key, size_t klen)
{
	for (size_t i = obj->len; i-- > 0;) {
		const struct tl_json_member *m = &obj->u.members[i];

		if (m->klen == klen && memcmp(m->key, key, klen) == 0)
			return &m->val;
	}
	return NULL;
}

/* Keys of an object as Python counts them. */
static size_t dict_len(const struct tl_json *obj)
{
	size_t n = 0;

	for (size_t i = 0; i < obj->len; i++)
		n += first_of_key(obj, i);
	return n;
}

static int for_each_value(struct ev *E, const struct datum *d,
			  int (*fn)(struct ev *, const struct datum *, void *), void *arg)
{
	const struct tl_json *v = d->v;
	int rc;

	if (v->type == TL_JSON_ARRAY) {
		for (size_t i = 0; i < v->len; i++) {
			struct datum c = {&v->u.items[i], d, d->computed, NULL, 0, (int64_t)i};

			rc = fn(E, &c, arg);
			if (rc)
				return rc;
		}
	} else if (v->type == TL_JSON_OBJECT) {
		for (size_t i = 0; i < v->len; i++) {
			const struct tl_json_member *m = &v->u.members[i];
			struct datum c = {NULL, d, d->computed, m->key, m->klen, 0};

			if (!first_of_key(v, i))
				continue;
			c.v = lookup(v, m->key, m->klen);
			rc = fn(E, &c, arg);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int k_child(struct ev *E, const struct kont *k, const struct datum *d)
{
	return find(E, k->node, d, k->next);
}

static int desc_rec(struct ev *E, const struct datum *d, void *arg)
{
	const struct kont *k = arg;
	int rc = find(E, k->node, d, k->next);

	if (rc)
		return rc;
	if (++E->r->depth > MAX_EVAL_DEPTH)
		return TL_JSONPATH_E_LIMIT;
	rc = for_each_value(E, d, desc_rec, arg);
	E->r->depth--;
	return rc;
}

static int k_desc(struct ev *E, const struct kont *k, const struct datum *d)
{
	return desc_rec(E, d, (void *)k);
}

static int k_count(struct ev *E, const struct kont *k, const struct datum *d)
{
	(void)E;
	(void)d;
	(*(size_t *)k->arg)++;
	return 0;
}

static int k_where(struct ev *E, const struct kont *k, const struct datum *d)
{
	size_t n = 0;
	struct kont kc = {k_count, NULL, 0, &n};
	int rc = find(E, k->node, d, &kc);

	if (rc)
		return rc;
	return n ? emit(E, k->next, d) : 0;
}

static int push(struct ev *E, const struct tl_json *v)
{
	struct tl_jsonpath_result *r = E->r;

	if (r->sp == r->scap) {
		size_t cap = r->scap ? 2 * r->scap : 64;
		const struct tl_json **s;

		if (cap > TL_JSONPATH_MAX_MATCHES * 4)
			return TL_JSONPATH_E_LIMIT;
		s = realloc(r->stack, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		r->stack = s;
		r->scap = cap;
	}
	r->stack[r->sp++] = v;
	return 0;
}

static int k_push(struct ev *E, const struct kont *k, const struct datum *d)
{
	(void)k;
	return push(E, d->v);
}

/* ---- Python's semantics of values ---- */

static bool is_num(const struct tl_json *v)
{
	return v->type == TL_JSON_INT || v->type == TL_JSON_REAL || v->type == TL_JSON_TRUE ||
	       v->type == TL_JSON_FALSE;
}
/* An int for Python (bool included). */
static bool is_int(const struct tl_json *v)
{
	return v->type == TL_JSON_INT || v->type == TL_JSON_TRUE || v->type == TL_JSON_FALSE;
}
static int64_t int_of(const struct tl_json *v)
{
	return v->type == TL_JSON_INT ? v->u.i : v->type == TL_JSON_TRUE;
}
static double real_of(const struct tl_json *v)
{
	return v->type == TL_JSON_REAL ? v->u.d : (double)int_of(v);
}

/* Python's int vs float comparison, exact: -1, 0, 1, or 2 when d is nan. */
static int cmp_int_real(int64_t i, double d)
{
	int64_t t;
	double frac;

	if (isnan(d))
		return 2;
	if (d >= 9223372036854775808.0)
		return -1;
	if (d < -9223372036854775808.0)
		return 1;
	t = (int64_t)d;
	if (i != t)
		return i < t ? -1 : 1;
	frac = d - (double)t;
	return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

/* 1 the operation does not apply to these types (Python's TypeError). */
#define TYPE_ERROR 1

static int repeat(struct ev *E, const struct tl_json *seq, int64_t n, const struct tl_json **out)
{
	struct tl_json *v;
	size_t unit = seq->type == TL_JSON_STRING ? seq->len : seq->len * sizeof(struct tl_json);
	size_t total;
	int rc;

	if (n < 0)
		n = 0;
	if (unit && (uint64_t)n > TL_JSONPATH_MAX_COMPUTED / unit)
		return TL_JSONPATH_E_LIMIT;
	total = unit * (size_t)n;
	rc = new_value(E, out, &v, total + 1);
	if (rc)
		return rc;
	v->type = seq->type;
	v->len = (uint32_t)(seq->len * (size_t)n);
	if (seq->type == TL_JSON_STRING) {
		char *s = (char *)(v + 1);

		for (int64_t k = 0; k < n; k++)
			memcpy(s + (size_t)k * unit, seq->u.s, unit);
		s[total] = '\0';
		v->u.s = s;
	} else {
		struct tl_json *items = (struct tl_json *)(v + 1);

		for (int64_t k = 0; k < n; k++)
			if (unit)
				memcpy(items + (size_t)k * seq->len, seq->u.items, unit);
		v->u.items = items;
	}
	return 0;
}

static int arith(struct ev *E, int op, const struct tl_json *a, const struct tl_json *b,
		 const struct tl_json **out)
{
	struct tl_json *v;
	int rc;

	if (is_num(a) && is_num(b)) {
		rc = new_value(E, out, &v, 0);
		if (rc)
			return rc;
		if (a->type == TL_JSON_REAL || b->type == TL_JSON_REAL) {
			double x = real_of(a), y = real_of(b);

			v->type = TL_JSON_REAL;
			v->u.d = op == OP_ADD ? x + y : op == OP_SUB ? x - y : x * y;
		} else {
			int64_t x = int_of(a), y = int_of(b), z;
			bool over = op == OP_ADD   ? __builtin_add_overflow(x, y, &z)
				    : op == OP_SUB ? __builtin_sub_overflow(x, y, &z)
						   : __builtin_mul_overflow(x, y, &z);

			if (over)
				return TL_JSONPATH_E_LIMIT;
			v->type = TL_JSON_INT;
			v->u.i = z;
		}
		return 0;
	}
	if (op == OP_ADD && a->type == b->type &&
	    (a->type == TL_JSON_STRING || a->type == TL_JSON_ARRAY)) {
		if (a->type == TL_JSON_STRING)
			return new_string(E, a->u.s, a->len, b->u.s, b->len, out);
		if ((size_t)a->len + b->len > TL_JSONPATH_MAX_COMPUTED)
			return TL_JSONPATH_E_LIMIT;
		rc = new_value(E, out, &v, ((size_t)a->len + b->len) * sizeof(struct tl_json));
		if (rc)
			return rc;
		{
			struct tl_json *items = (struct tl_json *)(v + 1);

			if (a->len)
				memcpy(items, a->u.items, a->len * sizeof(*items));
			if (b->len)
				memcpy(items + a->len, b->u.items, b->len * sizeof(*items));
			v->type = TL_JSON_ARRAY;
			v->len = a->len + b->len;
			v->u.items = items;
		}
		return 0;
	}
	if (op == OP_MUL) {
		if ((a->type == TL_JSON_STRING || a->type == TL_JSON_ARRAY) && is_int(b))
			return repeat(E, a, int_of(b), out);
		if ((b->type == TL_JSON_STRING || b->type == TL_JSON_ARRAY) && is_int(a))
			return repeat(E, b, int_of(a), out);
	}
	return TYPE_ERROR;
}

static int eval_op(struct ev *E, const struct node *n, const struct datum *d, const struct kont *k)
{
	struct tl_jsonpath_result *r = E->r;
	const struct node *ln = &E->p->nodes[n->a], *rn = &E->p->nodes[n->b];
	size_t base = r->sp, nl, nr, nres, i;
	struct kont kp = {k_push, NULL, 0, NULL};
	bool limit = false;
	int rc = 0;

	/* Operands first, as lists (the original finds both before combining). */
	if (ln->type == N_LIT)
		rc = push(E, &ln->val);
	else
		rc = find(E, n->a, d, &kp);
	if (rc)
		goto out;
	nl = r->sp - base;
	if (rn->type == N_LIT)
		rc = push(E, &rn->val);
	else
		rc = find(E, n->b, d, &kp);
	if (rc)
		goto out;
	nr = r->sp - base - nl;
	if (ln->type != N_LIT && rn->type != N_LIT) {
		if (nl == 0 || nl != nr)
			goto out;
		nres = nl;
	} else {
		nres = ln->type == N_LIT ? nr : nl;
	}
	for (i = 0; i < nres; i++) {
		const struct tl_json *a = r->stack[base + (ln->type == N_LIT ? 0 : i)];
		const struct tl_json *b = r->stack[base + nl + (rn->type == N_LIT ? 0 : i)];
		const struct tl_json *res;

		rc = arith(E, n->op, a, b, &res);
		if (rc == TYPE_ERROR) {
			rc = 0; /* TypeError: no match at all */
			goto out;
		}
		if (rc == TL_JSONPATH_E_LIMIT) {
			/* Python would go on (big integers): a later TypeError still
			 * means no match rather than our limit. */
			limit = true;
			res = &ln->val;
		} else if (rc) {
			goto out;
		}
		rc = push(E, res);
		if (rc)
			goto out;
	}
	if (limit) {
		rc = TL_JSONPATH_E_LIMIT;
		goto out;
	}
	/* Then the results, once all are known. */
	for (i = 0; i < nres; i++) {
		struct datum c = {r->stack[base + nl + nr + i], NULL, true, NULL, 0, 0};

		rc = emit(E, k, &c);
		if (rc)
			goto out;
	}
	/* What the continuation pushed (the operands of an enclosing operation)
	 * sits above this operation's values: move it down over them. */
	{
		size_t used = nl + nr + nres, extra = r->sp - base - used;

		memmove(r->stack + base, r->stack + base + used, extra * sizeof(*r->stack));
		r->sp = base + extra;
	}
	return 0;
out:
	r->sp = base;
	return rc;
}

/*
 * Python's int() of a string: whitespace around (Unicode's), a sign,
 * decimal digits of any script, single underscores between digits.
 * Returns false (ValueError) or true with *v, or *over (-1/1) when it
 * leaves int64.
 */
static const uint32_t py_spaces[] = {0x85,   0xa0,   0x1680, 0x2000, 0x2001, 0x2002, 0x2003,
				     0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a,
				     0x2028, 0x2029, 0x202f, 0x205f, 0x3000};
/* The zeros of Unicode 14's decimal digits (Python 3.11), each followed by 1..9. */
static const uint32_t py_zeros[] = {
	0x660,	 0x6f0,	  0x7c0,   0x966,   0x9e6,   0xa66,   0xae6,   0xb66,	0xbe6,	 0xc66,
	0xce6,	 0xd66,	  0xde6,   0xe50,   0xed0,   0xf20,   0x1040,  0x1090,	0x17e0,	 0x1810,
	0x1946,	 0x19d0,  0x1a80,  0x1a90,  0x1b50,  0x1bb0,  0x1c40,  0x1c50,	0xa620,	 0xa8d0,
	0xa900,	 0xa9d0,  0xa9f0,  0xaa50,  0xabf0,  0xff10,  0x104a0, 0x10d30, 0x11066, 0x110f0,
	0x11136, 0x111d0, 0x112f0, 0x11450, 0x114d0, 0x11650, 0x116c0, 0x11730, 0x118e0, 0x11950,
	0x11c50, 0x11d50, 0x11da0, 0x16a60, 0x16ac0, 0x16b50, 0x1d7ce, 0x1d7d8, 0x1d7e2, 0x1d7ec,
	0x1d7f6, 0x1e140, 0x1e2f0, 0x1e950, 0x1fbf0};

/* ' ' for whitespace, '0'..'9' for digits, the character if ASCII, else '?'. */
static char py_class(uint32_t c)
{
	if (c < 0x80) {
		if ((c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f))
			return ' ';
		return (char)c;
	}
	for (size_t i = 0; i < sizeof(py_spaces) / sizeof(py_spaces[0]); i++)
		if (py_spaces[i] == c)
			return ' ';
	for (size_t i = 0; i < sizeof(py_zeros) / sizeof(py_zeros[0]); i++)
		if (c >= py_zeros[i] && c <= py_zeros[i] + 9)
			return (char)('0' + (c - py_zeros[i]));
	return '?';
}

static bool py_int(const char *s, size_t len, int64_t *v, int *over)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	/* 0 leading space, 1 after the sign, 2 in digits, 3 after '_', 4 trailing space */
	int state = 0;
	bool neg = false;
	uint64_t acc = 0;

	*over = 0;
	while (p < end) {
		uint32_t c;
		size_t step = tl_utf8_decode(p, end, &c);
		char k;

		if (!step)
			return false;
		p += step;
		k = py_class(c);
		if (k == ' ') {
			if (state == 1 || state == 3)
				return false;
			if (state == 2)
				state = 4;
		} else if (k == '+' || k == '-') {
			if (state != 0)
				return false;
			neg = k == '-';
			state = 1;
		} else if (k == '_') {
			if (state != 2)
				return false;
			state = 3;
		} else if (k >= '0' && k <= '9') {
			if (state == 4)
				return false;
			state = 2;
			if (acc > (UINT64_MAX - 9) / 10)
				*over = 1;
			else
				acc = acc * 10 + (uint64_t)(k - '0');
		} else {
			return false;
		}
	}
	if (state != 2 && state != 4)
		return false;
	if (*over || acc > (uint64_t)INT64_MAX + (neg ? 1u : 0u)) {
		*over = neg ? -1 : 1;
		return true;
	}
	*v = neg ? (int64_t)(0 - acc) : (int64_t)acc;
	return true;
}

static bool holds(int op, int c)
{
	if (c == 2) /* nan */
		return op == F_NE;
	switch (op) {
	case F_EQ:
		return c == 0;
	case F_NE:
		return c != 0;
	case F_LT:
		return c < 0;
	case F_LE:
		return c <= 0;
	case F_GT:
		return c > 0;
	default:
		return c >= 0;
	}
}

/* One value against a condition: 1 true, 0 false, or TL_JSONPATH_E_RAISE. */
static int compare(const struct node *e, const struct tl_json *v)
{
	bool ordering = e->op != F_EQ && e->op != F_NE;

	if (v->type == TL_JSON_NULL)
		return 0;
	if (e->lit == L_INT) {
		int64_t x;
		int over = 0, c;

		if (is_int(v)) {
			x = int_of(v);
		} else if (v->type == TL_JSON_REAL) {
			double t = trunc(v->u.d);

			if (isnan(t))
				return 0; /* ValueError */
			if (t >= 9223372036854775808.0)
				over = 1;
			else if (t < -9223372036854775808.0)
				over = -1;
			else
				x = (int64_t)t;
		} else if (v->type == TL_JSON_STRING) {
			if (!py_int(v->u.s, v->len, &x, &over))
				return 0; /* ValueError: skipped */
		} else {
			return TL_JSONPATH_E_RAISE; /* int() of a list or dict */
		}
		c = over ? over : x < e->i ? -1 : x > e->i;
		return holds(e->op, c);
	}
	if (e->lit == L_FLOAT) {
		int c;

		if (is_int(v))
			c = cmp_int_real(int_of(v), e->d);
		else if (v->type == TL_JSON_REAL)
			c = isnan(v->u.d) || isnan(e->d) ? 2 : v->u.d < e->d ? -1 : v->u.d > e->d;
		else if (ordering)
			return TL_JSONPATH_E_RAISE;
		else
			return e->op == F_NE;
		return holds(e->op, c);
	}
	if (v->type == TL_JSON_STRING) {
		size_t m = v->len < e->slen ? v->len : e->slen;
		int c = memcmp(v->u.s, e->s, m);

		if (c == 0)
			c = v->len < e->slen ? -1 : v->len > e->slen;
		return holds(e->op, c < 0 ? -1 : c > 0);
	}
	if (ordering)
		return TL_JSONPATH_E_RAISE;
	return e->op == F_NE;
}

struct cond_state {
	const struct node *e;
	size_t found;
};

static int k_cond(struct ev *E, const struct kont *k, const struct datum *d)
{
	struct cond_state *st = k->arg;
	int rc;

	(void)E;
	if (st->e->op == F_NONE) {
		st->found++;
		return 0;
	}
	rc = compare(st->e, d->v);
	if (rc < 0)
		return rc;
	st->found += (size_t)rc;
	return 0;
}

/* The value of a plain path from v (a root: '$' is v too), or NULL. */
static const struct tl_json *plain_value(const struct tl_jsonpath *p, const struct node *n,
					 const struct tl_json *v)
{
	for (int i = 0; i < n->plain - 1 && v; i++) {
		const struct name *nm = &p->names[p->plain_names[n->plain_at + i]];

		v = v->type == TL_JSON_OBJECT ? lookup(v, nm->s, nm->len) : NULL;
	}
	return v;
}

static int eval_filter(struct ev *E, const struct node *n, const struct datum *d,
		       const struct kont *k)
{
	const struct tl_json *v = d->v;
	int rc;

	if (v->type != TL_JSON_ARRAY)
		return 0;
	for (size_t i = 0; i < v->len; i++) {
		/* The original finds the conditions from the element alone: '$' is the element. */
		struct datum el = {&v->u.items[i], NULL, d->computed, NULL, 0, 0};
		bool all = true;

		for (uint16_t c = n->a; c != NONE; c = E->p->nodes[c].next) {
			struct cond_state st = {&E->p->nodes[c], 0};
			struct kont kc = {k_cond, NULL, 0, &st};
			const struct node *t = &E->p->nodes[st.e->a];

			if (t->plain) {
				/* @.name = 'x', the common case: one lookup, no continuation */
				const struct tl_json *tv = plain_value(E->p, t, el.v);

				rc = 0;
				if (tv)
					rc = k_cond(E, &kc,
						    &(struct datum){tv, NULL, false, NULL, 0, 0});
			} else {
				rc = find(E, st.e->a, &el, &kc);
			}
			if (rc)
				return rc;
			if (!st.found)
				all = false;
		}
		if (all) {
			struct datum m = {&v->u.items[i], d, d->computed, NULL, 0, (int64_t)i};

			rc = emit(E, k, &m);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int eval_index(struct ev *E, const struct node *n, const struct datum *d,
		      const struct kont *k)
{
	const struct tl_json *v = d->v;
	int64_t idx = n->i;
	size_t len;

	switch ((enum tl_json_type)v->type) {
	case TL_JSON_ARRAY:
		len = v->len;
		break;
	case TL_JSON_STRING:
		len = cp_count(v->u.s, v->len);
		break;
	case TL_JSON_OBJECT:
		/* len(dict) > i, then dict[i]: a KeyError */
		return (int64_t)dict_len(v) > idx ? TL_JSONPATH_E_RAISE : 0;
	default:
		return TL_JSONPATH_E_RAISE; /* len() of a number, bool or None */
	}
	if ((int64_t)len <= idx)
		return 0;
	if (idx < 0) {
		idx += (int64_t)len;
		if (idx < 0)
			return TL_JSONPATH_E_RAISE; /* IndexError */
	}
	if (v->type == TL_JSON_ARRAY) {
		struct datum c = {&v->u.items[idx], d, d->computed, NULL, 0, n->i};

		return emit(E, k, &c);
	}
	{
		size_t o = cp_offset(v->u.s, v->len, (size_t)idx);
		size_t e = o + 1;
		const struct tl_json *res;
		int rc;

		while (e < v->len && ((unsigned char)v->u.s[e] & 0xc0) == 0x80)
			e++;
		rc = new_string(E, v->u.s + o, e - o, NULL, 0, &res);
		if (rc)
			return rc;
		/* a new string, but found in the string: '$' after it still climbs */
		struct datum c = {res, d, true, NULL, 0, n->i};

		return emit(E, k, &c);
	}
}

static int eval_slice(struct ev *E, const struct node *n, const struct datum *d,
		      const struct kont *k)
{
	const struct tl_json *v = d->v;
	struct datum wrap = *d;
	int64_t len, s, e;
	int rc;

	if (v->type == TL_JSON_REAL || v->type == TL_JSON_NULL)
		return TL_JSONPATH_E_RAISE; /* len() */
	if (v->type != TL_JSON_ARRAY) {
		/* A dict, int, bool or str is taken as a list of itself. */
		const struct tl_json *res;
		struct tl_json *arr;

		rc = new_value(E, &res, &arr, sizeof(struct tl_json));
		if (rc)
			return rc;
		memcpy(arr + 1, v, sizeof(*v));
		arr->type = TL_JSON_ARRAY;
		arr->len = 1;
		arr->u.items = arr + 1;
		wrap.v = res;
		wrap.ctx = d->ctx;
		v = res;
	}
	len = v->len;
	if (!n->has_start)
		s = 0;
	else if (n->i < 0)
		s = n->i + len < 0 ? 0 : n->i + len;
	else
		s = n->i > len ? len : n->i;
	if (!n->has_end)
		e = len;
	else if (n->j < 0)
		e = n->j + len < 0 ? 0 : n->j + len;
	else
		e = n->j > len ? len : n->j;
	for (int64_t i = s; i < e; i++) {
		struct datum c = {&v->u.items[i], &wrap, d->computed, NULL, 0, i};

		rc = emit(E, k, &c);
		if (rc)
			return rc;
	}
	return 0;
}

static int eval_split(struct ev *E, const struct node *n, const struct datum *d,
		      const struct kont *k)
{
	const struct tl_json *v = d->v;
	const char *s, *end, *sep = n->s;
	size_t seplen = n->slen;
	int64_t seg = n->i, max = n->j, part = 0;
	const struct tl_json *res;
	int rc;

	if (v->type != TL_JSON_STRING)
		return 0; /* no .split(): no match */
	s = v->u.s;
	end = s + v->len;
	/* str.split(sep, max)[seg] */
	for (;;) {
		const char *hit = NULL;

		if (max < 0 || part < max) {
			for (const char *q = s; q + seplen <= end; q++)
				if (memcmp(q, sep, seplen) == 0) {
					hit = q;
					break;
				}
		}
		if (part == seg) {
			rc = new_string(E, s, (size_t)((hit ? hit : end) - s), NULL, 0, &res);
			if (rc)
				return rc;
			struct datum c = {res, NULL, true, NULL, 0, 0};

			return emit(E, k, &c);
		}
		if (!hit)
			return 0; /* IndexError: no match */
		s = hit + seplen;
		part++;
	}
}

static int eval_fields(struct ev *E, const struct node *n, const struct datum *d,
		       const struct kont *k)
{
	const struct tl_json *v = d->v;
	int rc;

	if (v->type != TL_JSON_OBJECT)
		return 0;
	if (n->wildcard) {
		for (size_t i = 0; i < v->len; i++) {
			const struct tl_json_member *m = &v->u.members[i];

			if (!first_of_key(v, i))
				continue;
			struct datum c = {
				lookup(v, m->key, m->klen), d, d->computed, m->key, m->klen, 0};

			rc = emit(E, k, &c);
			if (rc)
				return rc;
		}
		return 0;
	}
	for (uint16_t f = 0; f < n->b; f++) {
		const struct name *nm = &E->p->names[n->a + f];
		const struct tl_json *m = lookup(v, nm->s, nm->len);

		if (m) {
			struct datum c = {m, d, d->computed, nm->s, nm->len, 0};

			rc = emit(E, k, &c);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* A plain path: at most one match, the datums of its steps on this stack. */
static int eval_plain(struct ev *E, const struct node *n, const struct datum *d,
		      const struct kont *k)
{
	struct datum steps[FAST_MAX];
	const struct datum *cur = d;
	int count = n->plain - 1;

	if (n->plain_root)
		while (cur->ctx)
			cur = cur->ctx;
	for (int i = 0; i < count; i++) {
		const struct name *nm = &E->p->names[E->p->plain_names[n->plain_at + i]];
		const struct tl_json *v;

		if (cur->v->type != TL_JSON_OBJECT || !(v = lookup(cur->v, nm->s, nm->len)))
			return 0;
		steps[i].v = v;
		steps[i].ctx = cur;
		steps[i].computed = cur->computed;
		steps[i].name = nm->s;
		steps[i].nlen = nm->len;
		cur = &steps[i];
	}
	return emit(E, k, cur);
}

static int find(struct ev *E, uint16_t id, const struct datum *d, const struct kont *k)
{
	const struct node *n = &E->p->nodes[id];
	struct tl_jsonpath_result *r = E->r;
	int rc;

	if (++r->work > TL_JSONPATH_MAX_WORK || r->depth >= MAX_EVAL_DEPTH)
		return TL_JSONPATH_E_LIMIT;
	if (n->plain)
		return eval_plain(E, n, d, k);
	r->depth++;
	switch ((enum node_type)n->type) {
	case N_ROOT: {
		const struct datum *top = d;

		while (top->ctx)
			top = top->ctx;
		rc = emit(E, k, top);
		break;
	}
	case N_THIS:
		rc = emit(E, k, d);
		break;
	case N_FIELDS:
		rc = eval_fields(E, n, d, k);
		break;
	case N_INDEX:
		rc = eval_index(E, n, d, k);
		break;
	case N_SLICE:
		rc = eval_slice(E, n, d, k);
		break;
	case N_CHILD: {
		struct kont kc = {k_child, k, n->b, NULL};

		rc = find(E, n->a, d, &kc);
		break;
	}
	case N_DESC: {
		struct kont kc = {k_desc, k, n->b, NULL};

		rc = find(E, n->a, d, &kc);
		break;
	}
	case N_UNION:
		rc = find(E, n->a, d, k);
		if (!rc)
			rc = find(E, n->b, d, k);
		break;
	case N_WHERE: {
		struct kont kc = {k_where, k, n->b, NULL};

		rc = find(E, n->a, d, &kc);
		break;
	}
	case N_FILTER:
		rc = eval_filter(E, n, d, k);
		break;
	case N_OP:
		rc = eval_op(E, n, d, k);
		break;
	case N_LIT: {
		/* A constant standing alone ((a) + 1 keeps 'a' as an operand only). */
		struct datum c = {&n->val, NULL, true, NULL, 0, 0};

		rc = emit(E, k, &c);
		break;
	}
	case N_LEN: {
		const struct tl_json *v = d->v, *res;
		struct tl_json *nv;
		size_t len;

		if (v->type == TL_JSON_STRING)
			len = cp_count(v->u.s, v->len);
		else if (v->type == TL_JSON_ARRAY)
			len = v->len;
		else if (v->type == TL_JSON_OBJECT)
			len = dict_len(v);
		else {
			rc = 0; /* TypeError: no match */
			break;
		}
		rc = new_value(E, &res, &nv, 0);
		if (rc)
			break;
		nv->type = TL_JSON_INT;
		nv->u.i = (int64_t)len;
		struct datum c = {res, NULL, true, NULL, 0, 0};

		rc = emit(E, k, &c);
		break;
	}
	case N_SPLIT:
		rc = eval_split(E, n, d, k);
		break;
	default:
		rc = TL_JSONPATH_E_LIMIT; /* refused at compile time */
		break;
	}
	r->depth--;
	return rc;
}

static int add_match(struct tl_jsonpath_result *r, const struct tl_json *v, bool computed)
{
	if (r->count == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 8;
		struct tl_jsonpath_match *m;

		if (r->count >= TL_JSONPATH_MAX_MATCHES)
			return TL_JSONPATH_E_LIMIT;
		m = realloc(r->matches, cap * sizeof(*m));
		if (!m)
			return -ENOMEM;
		r->matches = m;
		r->cap = cap;
	}
	r->matches[r->count].value = v;
	r->matches[r->count].computed = computed;
	r->matches[r->count].path = NULL;
	r->count++;
	return 0;
}

/* The path of d as ceilometer joins it (see struct tl_jsonpath_match). */
static int make_path(struct tl_jsonpath_result *r, const struct datum *d, const char **out)
{
	const struct datum *x;
	size_t len = 0, pos;
	char num[32], *s;

	for (x = d; x->ctx; x = x->ctx)
		len += (x->name ? x->nlen
				: (size_t)snprintf(num, sizeof(num), "[%lld]",
						   (long long)x->index)) +
		       (x != d);
	s = tl_json_doc_alloc(&r->arena, len + 1);
	if (!s)
		return -ENOMEM;
	s[len] = '\0';
	pos = len;
	for (x = d; x->ctx; x = x->ctx) {
		size_t n =
			x->name ? x->nlen
				: (size_t)snprintf(num, sizeof(num), "[%lld]", (long long)x->index);

		if (x != d)
			s[--pos] = '.';
		pos -= n;
		memcpy(s + pos, x->name ? x->name : num, n);
	}
	*out = s;
	return 0;
}

static int k_sink(struct ev *E, const struct kont *k, const struct datum *d)
{
	struct tl_jsonpath_result *r = E->r;
	int rc;

	(void)k;
	rc = add_match(r, d->v, d->computed);
	if (rc || !r->paths)
		return rc;
	return make_path(r, d, &r->matches[r->count - 1].path);
}

int tl_jsonpath_eval(const struct tl_jsonpath *p, const struct tl_json *root,
		     struct tl_jsonpath_result *r)
{
	struct ev E = {p, r};
	struct datum top = {root, NULL, false, NULL, 0, 0};
	struct kont sink = {k_sink, NULL, 0, NULL};
	int rc;

	tl_jsonpath_result_reset(r);
	if (p->nodes[p->top].plain && !r->paths) {
		/* A plain path: no continuations, no allocation once matches has room. */
		const struct tl_json *v = plain_value(p, &p->nodes[p->top], root);

		return v ? add_match(r, v, false) : 0;
	}
	rc = find(&E, p->top, &top, &sink);
	if (rc) {
		r->count = 0;
		return rc;
	}
	return 0;
}
