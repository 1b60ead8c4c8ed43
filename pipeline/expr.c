/*
 * expr.c — the transformers' expression language (expr.h): a lexer and a
 * recursive-descent parser into an array of nodes, and a recursive
 * evaluator over that array. Depth is bounded at parse time, so the
 * evaluator's recursion is too.
 */
#include "config.h"

#include "pipeline/expr.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/time.h"

enum node_op {
	N_LIT = 0, /* lit */
	N_NAME,	   /* a bare name: str */
	N_METER,   /* $(meter) index in meter; whole sample */
	N_ATTR,	   /* a . str */
	N_INDEX,   /* a [ b ] */
	N_CALL,	   /* a ( args linked from b ) */
	N_NEG,
	N_POS,
	N_INV,
	N_NOT,
	N_BIN, /* a op b, op in binop */
	N_AND,
	N_OR,
	N_CMP, /* a, then (cmpop, operand) linked through next from b */
};

enum binop { B_ADD = 0, B_SUB, B_MUL, B_DIV, B_FLOORDIV, B_MOD, B_POW };
enum cmpop { C_LT = 0, C_LE, C_GT, C_GE, C_EQ, C_NE };

struct node {
	uint8_t op;
	uint8_t sub; /* binop, cmpop of a comparison operand */
	int32_t a, b, next;
	int32_t meter;
	const char *str; /* in the pool */
	size_t len;
	struct tl_expr_value lit;
};

struct tl_expr {
	enum tl_expr_mode mode;
	char *text;
	char *pool; /* names and unescaped strings, NUL-terminated each */
	size_t pool_used, pool_cap;
	struct node *nodes;
	size_t n_nodes;
	int32_t root;
	char *meters[TL_EXPR_MAX_METERS];
	size_t n_meters;
};

/* ------------------------------------------------------------------ errors */

static int errf(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int errf(char *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, TL_EXPR_ERR_SIZE, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* ------------------------------------------------------------------- lexer */

enum tok_type { T_END = 0, T_INT, T_FLOAT, T_STR, T_NAME, T_METER, T_OP };

struct parser {
	struct tl_expr *e;
	const char *p; /* next character */
	const char *start;
	enum tok_type tok;
	char opname[4];	  /* T_OP */
	const char *tstr; /* T_NAME, T_STR, T_METER: in the pool */
	size_t tlen;
	bool meter_dot; /* T_METER: a '.' follows directly */
	int64_t ival;
	double fval;
	size_t tok_pos;
	int depth;
	char *err;
};

static char *pool_add(struct tl_expr *e, const char *s, size_t len)
{
	/* The pool is sized for the whole text at compile, so this cannot overflow. */
	char *d = e->pool + e->pool_used;
	memcpy(d, s, len);
	d[len] = '\0';
	e->pool_used += len + 1;
	return d;
}

static bool is_ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident(char c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9');
}

static int lex_number(struct parser *ps)
{
	const char *s = ps->p;
	char buf[128];
	size_t n = 0;
	bool is_float = false;
	int base = 10;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X' || s[1] == 'o' || s[1] == 'O' ||
			    s[1] == 'b' || s[1] == 'B')) {
		base = (s[1] == 'x' || s[1] == 'X') ? 16 : (s[1] == 'o' || s[1] == 'O') ? 8 : 2;
		s += 2;
	}
	for (;; s++) {
		char c = *s;
		if (c == '_')
			continue;
		bool digit = (c >= '0' && c <= '9') ||
			     (base == 16 && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
		if (!digit && base == 10) {
			if (c == '.' && !is_float) {
				is_float = true;
			} else if ((c == 'e' || c == 'E') &&
				   ((s[1] >= '0' && s[1] <= '9') ||
				    ((s[1] == '+' || s[1] == '-') && s[2] >= '0' && s[2] <= '9'))) {
				is_float = true;
				if (n + 2 >= sizeof(buf))
					return errf(ps->err, "SyntaxError: number too long");
				buf[n++] = c;
				c = *++s;
				if (c == '+' || c == '-') {
					buf[n++] = c;
					s++;
				}
				while ((*s >= '0' && *s <= '9') || *s == '_') {
					if (*s != '_') {
						if (n + 1 >= sizeof(buf))
							return errf(ps->err,
								    "SyntaxError: number too long");
						buf[n++] = *s;
					}
					s++;
				}
				break;
			} else {
				break;
			}
		} else if (!digit) {
			break;
		}
		if (n + 1 >= sizeof(buf))
			return errf(ps->err, "SyntaxError: number too long");
		buf[n++] = c;
	}
	buf[n] = '\0';
	if (is_ident(*s))
		return errf(ps->err, "SyntaxError: invalid number at offset %zu",
			    (size_t)(ps->p - ps->start));
	if (n == 0 || (n == 1 && buf[0] == '.'))
		return errf(ps->err, "SyntaxError: invalid number at offset %zu",
			    (size_t)(ps->p - ps->start));
	if (is_float) {
		ps->tok = T_FLOAT;
		ps->fval = strtod(buf, NULL);
	} else {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(buf, &end, base);
		if (errno == ERANGE || v > (unsigned long long)INT64_MAX)
			return errf(ps->err, "OverflowError: integer literal %s is beyond 64 bits",
				    buf);
		/* Python refuses 0123 (a leading zero in a decimal). */
		if (base == 10 && n > 1 && buf[0] == '0' && v != 0)
			return errf(ps->err, "SyntaxError: leading zeros in a decimal integer");
		ps->tok = T_INT;
		ps->ival = (int64_t)v;
	}
	ps->p = s;
	return 0;
}

static int lex_string(struct parser *ps)
{
	char q = *ps->p++;
	char *d = ps->e->pool + ps->e->pool_used;
	size_t n = 0;

	for (;;) {
		char c = *ps->p;
		if (c == '\0' || c == '\n')
			return errf(ps->err, "SyntaxError: unterminated string literal");
		ps->p++;
		if (c == q)
			break;
		if (c == '\\') {
			char x = *ps->p++;
			switch (x) {
			case 'n':
				c = '\n';
				break;
			case 't':
				c = '\t';
				break;
			case 'r':
				c = '\r';
				break;
			case '\\':
				c = '\\';
				break;
			case '\'':
				c = '\'';
				break;
			case '"':
				c = '"';
				break;
			case '\0':
				return errf(ps->err, "SyntaxError: unterminated string literal");
			default:
				/* Python keeps an unknown escape as written. */
				d[n++] = '\\';
				c = x;
				break;
			}
		}
		d[n++] = c;
	}
	d[n] = '\0';
	ps->tstr = d;
	ps->tlen = n;
	ps->e->pool_used += n + 1;
	ps->tok = T_STR;
	return 0;
}

static int add_meter(struct parser *ps, const char *name, size_t len, int32_t *out)
{
	struct tl_expr *e = ps->e;
	for (size_t i = 0; i < e->n_meters; i++) {
		if (strlen(e->meters[i]) == len && memcmp(e->meters[i], name, len) == 0) {
			*out = (int32_t)i;
			return 0;
		}
	}
	if (e->n_meters == TL_EXPR_MAX_METERS)
		return errf(ps->err, "more than %d meters in the expression", TL_EXPR_MAX_METERS);
	e->meters[e->n_meters] = pool_add(e, name, len);
	*out = (int32_t)e->n_meters++;
	return 0;
}

static const char *const ops3[] = {"**", "//", "==", "!=", "<=", ">=", "<<", ">>", NULL};

static int next_tok(struct parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
		ps->p++;
	ps->tok_pos = (size_t)(ps->p - ps->start);
	char c = *ps->p;
	if (c == '\0') {
		ps->tok = T_END;
		return 0;
	}
	if ((c >= '0' && c <= '9') || (c == '.' && ps->p[1] >= '0' && ps->p[1] <= '9'))
		return lex_number(ps);
	if (c == '\'' || c == '"')
		return lex_string(ps);
	if (is_ident_start(c)) {
		const char *s = ps->p;
		while (is_ident(*ps->p))
			ps->p++;
		ps->tstr = pool_add(ps->e, s, (size_t)(ps->p - s));
		ps->tlen = (size_t)(ps->p - s);
		ps->tok = T_NAME;
		return 0;
	}
	if (c == '$' && ps->p[1] == '(' && ps->e->mode == TL_EXPR_ARITHMETIC) {
		/* The original's $(name): word characters, dots and hyphens. */
		const char *s = ps->p + 2, *q = s;
		while (is_ident(*q) || *q == '.' || *q == '-' || (unsigned char)*q >= 0x80)
			q++;
		if (q == s || *q != ')')
			return errf(ps->err, "SyntaxError: bad meter reference at offset %zu",
				    ps->tok_pos);
		ps->tstr = s;
		ps->tlen = (size_t)(q - s);
		ps->p = q + 1;
		ps->meter_dot = *ps->p == '.';
		ps->tok = T_METER;
		return 0;
	}
	for (size_t i = 0; ops3[i]; i++) {
		if (c == ops3[i][0] && ps->p[1] == ops3[i][1]) {
			memcpy(ps->opname, ops3[i], 3);
			ps->p += 2;
			ps->tok = T_OP;
			return 0;
		}
	}
	if (strchr("+-*/%~()[].,<>&|^", c)) {
		ps->opname[0] = c;
		ps->opname[1] = '\0';
		ps->p++;
		ps->tok = T_OP;
		return 0;
	}
	return errf(ps->err, "SyntaxError: invalid character '%c' at offset %zu", c, ps->tok_pos);
}

static bool is_op(const struct parser *ps, const char *op)
{
	return ps->tok == T_OP && strcmp(ps->opname, op) == 0;
}

static bool is_kw(const struct parser *ps, const char *kw)
{
	return ps->tok == T_NAME && strcmp(ps->tstr, kw) == 0;
}

/* ------------------------------------------------------------------ parser */

static int new_node(struct parser *ps, enum node_op op, int32_t *out)
{
	struct tl_expr *e = ps->e;
	if (e->n_nodes == TL_EXPR_MAX_NODES)
		return errf(ps->err, "expression too long (more than %d nodes)", TL_EXPR_MAX_NODES);
	struct node *n = &e->nodes[e->n_nodes];
	memset(n, 0, sizeof(*n));
	n->op = (uint8_t)op;
	n->a = n->b = n->next = -1;
	*out = (int32_t)e->n_nodes++;
	return 0;
}

static int parse_or(struct parser *ps, int32_t *out);
static int parse_factor(struct parser *ps, int32_t *out);

static int enter(struct parser *ps)
{
	if (++ps->depth > TL_EXPR_MAX_DEPTH)
		return errf(ps->err, "expression nested deeper than %d", TL_EXPR_MAX_DEPTH);
	return 0;
}

static const char *const reserved[] = {"if",	"else",	 "lambda", "in",     "is",     "for",
				       "while", "yield", "await",  "import", "def",    "class",
				       "del",	"pass",	 "return", "global", "assert", NULL};

static int parse_atom(struct parser *ps, int32_t *out)
{
	int rc;
	int32_t n;
	struct tl_expr *e = ps->e;

	switch (ps->tok) {
	case T_INT:
	case T_FLOAT:
		if ((rc = new_node(ps, N_LIT, &n)))
			return rc;
		e->nodes[n].lit =
			ps->tok == T_INT ? tl_expr_int(ps->ival) : tl_expr_float(ps->fval);
		break;
	case T_STR:
		if ((rc = new_node(ps, N_LIT, &n)))
			return rc;
		e->nodes[n].lit.type = TL_EV_STR;
		e->nodes[n].lit.s = ps->tstr;
		e->nodes[n].lit.len = ps->tlen;
		break;
	case T_NAME:
		for (size_t i = 0; reserved[i]; i++)
			if (is_kw(ps, reserved[i]))
				return errf(ps->err, "SyntaxError: '%s' is not supported",
					    ps->tstr);
		if (is_kw(ps, "and") || is_kw(ps, "or") || is_kw(ps, "not"))
			return errf(ps->err, "SyntaxError: unexpected '%s' at offset %zu", ps->tstr,
				    ps->tok_pos);
		if ((rc = new_node(ps, N_LIT, &n)))
			return rc;
		if (is_kw(ps, "True") || is_kw(ps, "False")) {
			e->nodes[n].lit.type = TL_EV_BOOL;
			e->nodes[n].lit.i = is_kw(ps, "True");
		} else if (is_kw(ps, "None")) {
			e->nodes[n].lit.type = TL_EV_NONE;
		} else {
			e->nodes[n].op = N_NAME;
			e->nodes[n].str = ps->tstr;
			e->nodes[n].len = ps->tlen;
		}
		break;
	case T_METER: {
		int32_t m = 0;
		bool dot = ps->meter_dot;
		if ((rc = add_meter(ps, ps->tstr, ps->tlen, &m)) ||
		    (rc = new_node(ps, N_METER, &n)))
			return rc;
		e->nodes[n].meter = m;
		if (!dot) {
			/* As the original's rewriting: $(m) alone means $(m).volume. */
			int32_t a;
			if ((rc = new_node(ps, N_ATTR, &a)))
				return rc;
			e->nodes[a].a = n;
			e->nodes[a].str = "volume";
			e->nodes[a].len = 6;
			n = a;
		}
		break;
	}
	case T_OP:
		if (is_op(ps, "(")) {
			if ((rc = enter(ps)) || (rc = next_tok(ps)) || (rc = parse_or(ps, &n)))
				return rc;
			ps->depth--;
			if (!is_op(ps, ")"))
				return errf(ps->err, "SyntaxError: expected ')' at offset %zu",
					    ps->tok_pos);
			break;
		}
		/* fall through */
	default:
		if (ps->tok == T_END)
			return errf(ps->err, "SyntaxError: unexpected end of expression");
		return errf(ps->err, "SyntaxError: unexpected '%s' at offset %zu",
			    ps->tok == T_OP ? ps->opname : "token", ps->tok_pos);
	}
	*out = n;
	return next_tok(ps);
}

static int parse_primary(struct parser *ps, int32_t *out)
{
	int rc;
	int32_t n = 0, t = 0;
	struct tl_expr *e = ps->e;

	if ((rc = parse_atom(ps, &n)))
		return rc;
	for (;;) {
		if (is_op(ps, ".")) {
			if ((rc = next_tok(ps)))
				return rc;
			if (ps->tok != T_NAME)
				return errf(ps->err, "SyntaxError: expected a name after '.'");
			if ((rc = new_node(ps, N_ATTR, &t)))
				return rc;
			e->nodes[t].a = n;
			e->nodes[t].str = ps->tstr;
			e->nodes[t].len = ps->tlen;
			if ((rc = next_tok(ps)))
				return rc;
		} else if (is_op(ps, "[")) {
			if ((rc = enter(ps)) || (rc = new_node(ps, N_INDEX, &t)) ||
			    (rc = next_tok(ps)) || (rc = parse_or(ps, &e->nodes[t].b)))
				return rc;
			ps->depth--;
			e->nodes[t].a = n;
			if (!is_op(ps, "]"))
				return errf(ps->err, "SyntaxError: expected ']' at offset %zu",
					    ps->tok_pos);
			if ((rc = next_tok(ps)))
				return rc;
		} else if (is_op(ps, "(")) {
			if ((rc = enter(ps)) || (rc = new_node(ps, N_CALL, &t)) ||
			    (rc = next_tok(ps)))
				return rc;
			e->nodes[t].a = n;
			int32_t *link = &e->nodes[t].b;
			while (!is_op(ps, ")")) {
				int32_t arg;
				if ((rc = parse_or(ps, &arg)))
					return rc;
				*link = arg;
				link = &e->nodes[arg].next;
				if (is_op(ps, ","))
					rc = next_tok(ps);
				else if (!is_op(ps, ")"))
					return errf(ps->err,
						    "SyntaxError: expected ')' at offset %zu",
						    ps->tok_pos);
				if (rc)
					return rc;
			}
			ps->depth--;
			if ((rc = next_tok(ps)))
				return rc;
		} else {
			break;
		}
		n = t;
	}
	*out = n;
	return 0;
}

/* power: primary ['**' factor] (right-associative, and above a unary minus on its left). */
static int parse_power(struct parser *ps, int32_t *out)
{
	int rc;
	int32_t n = 0, t = 0;
	if ((rc = parse_primary(ps, &n)))
		return rc;
	if (is_op(ps, "**")) {
		if ((rc = enter(ps)) || (rc = new_node(ps, N_BIN, &t)) || (rc = next_tok(ps)) ||
		    (rc = parse_factor(ps, &ps->e->nodes[t].b)))
			return rc;
		ps->depth--;
		ps->e->nodes[t].sub = B_POW;
		ps->e->nodes[t].a = n;
		n = t;
	}
	*out = n;
	return 0;
}

static int parse_factor(struct parser *ps, int32_t *out)
{
	int rc;
	enum node_op op;
	if (is_op(ps, "-"))
		op = N_NEG;
	else if (is_op(ps, "+"))
		op = N_POS;
	else if (is_op(ps, "~"))
		op = N_INV;
	else
		return parse_power(ps, out);
	int32_t t;
	if ((rc = enter(ps)) || (rc = new_node(ps, op, &t)) || (rc = next_tok(ps)) ||
	    (rc = parse_factor(ps, &ps->e->nodes[t].a)))
		return rc;
	ps->depth--;
	*out = t;
	return 0;
}

static int parse_binary_level(struct parser *ps, int32_t *out, int level);

/* level 0: + -; level 1: * / // % */
static int parse_binary_level(struct parser *ps, int32_t *out, int level)
{
	int rc;
	int32_t n;
	if ((rc = level == 0 ? parse_binary_level(ps, &n, 1) : parse_factor(ps, &n)))
		return rc;
	for (;;) {
		int op = -1;
		if (level == 0 && is_op(ps, "+"))
			op = B_ADD;
		else if (level == 0 && is_op(ps, "-"))
			op = B_SUB;
		else if (level == 1 && is_op(ps, "*"))
			op = B_MUL;
		else if (level == 1 && is_op(ps, "/"))
			op = B_DIV;
		else if (level == 1 && is_op(ps, "//"))
			op = B_FLOORDIV;
		else if (level == 1 && is_op(ps, "%"))
			op = B_MOD;
		if (op < 0)
			break;
		int32_t t;
		if ((rc = new_node(ps, N_BIN, &t)) || (rc = next_tok(ps)))
			return rc;
		ps->e->nodes[t].sub = (uint8_t)op;
		ps->e->nodes[t].a = n;
		if ((rc = level == 0 ? parse_binary_level(ps, &ps->e->nodes[t].b, 1)
				     : parse_factor(ps, &ps->e->nodes[t].b)))
			return rc;
		n = t;
	}
	*out = n;
	return 0;
}

static int cmp_op(const struct parser *ps)
{
	static const char *const names[] = {"<", "<=", ">", ">=", "==", "!="};
	if (ps->tok != T_OP)
		return -1;
	for (int i = 0; i < 6; i++)
		if (strcmp(ps->opname, names[i]) == 0)
			return i;
	return -1;
}

static int parse_comparison(struct parser *ps, int32_t *out)
{
	int rc;
	int32_t n;
	if ((rc = parse_binary_level(ps, &n, 0)))
		return rc;
	if (ps->tok == T_OP && strchr("&|^", ps->opname[0]))
		return errf(ps->err, "SyntaxError: bitwise operator '%s' is not supported",
			    ps->opname);
	if (is_op(ps, "<<") || is_op(ps, ">>"))
		return errf(ps->err, "SyntaxError: shift operator '%s' is not supported",
			    ps->opname);
	int op = cmp_op(ps);
	if (op < 0) {
		*out = n;
		return 0;
	}
	int32_t c;
	if ((rc = new_node(ps, N_CMP, &c)))
		return rc;
	ps->e->nodes[c].a = n;
	int32_t *link = &ps->e->nodes[c].b;
	while ((op = cmp_op(ps)) >= 0) {
		int32_t r;
		if ((rc = next_tok(ps)) || (rc = parse_binary_level(ps, &r, 0)))
			return rc;
		ps->e->nodes[r].sub = (uint8_t)op;
		*link = r;
		link = &ps->e->nodes[r].next;
	}
	*out = c;
	return 0;
}

static int parse_not(struct parser *ps, int32_t *out)
{
	int rc;
	if (!is_kw(ps, "not"))
		return parse_comparison(ps, out);
	int32_t t;
	if ((rc = enter(ps)) || (rc = new_node(ps, N_NOT, &t)) || (rc = next_tok(ps)) ||
	    (rc = parse_not(ps, &ps->e->nodes[t].a)))
		return rc;
	ps->depth--;
	*out = t;
	return 0;
}

static int parse_and(struct parser *ps, int32_t *out)
{
	int rc;
	int32_t n;
	if ((rc = parse_not(ps, &n)))
		return rc;
	while (is_kw(ps, "and")) {
		int32_t t;
		if ((rc = new_node(ps, N_AND, &t)) || (rc = next_tok(ps)))
			return rc;
		ps->e->nodes[t].a = n;
		if ((rc = parse_not(ps, &ps->e->nodes[t].b)))
			return rc;
		n = t;
	}
	*out = n;
	return 0;
}

static int parse_or(struct parser *ps, int32_t *out)
{
	int rc;
	int32_t n;
	if ((rc = enter(ps)) || (rc = parse_and(ps, &n)))
		return rc;
	while (is_kw(ps, "or")) {
		int32_t t;
		if ((rc = new_node(ps, N_OR, &t)) || (rc = next_tok(ps)))
			return rc;
		ps->e->nodes[t].a = n;
		if ((rc = parse_and(ps, &ps->e->nodes[t].b)))
			return rc;
		n = t;
	}
	if (is_kw(ps, "if"))
		return errf(ps->err, "SyntaxError: conditional expressions are not supported");
	ps->depth--;
	*out = n;
	return 0;
}

int tl_expr_compile(const char *text, enum tl_expr_mode mode, struct tl_expr **out, char *err)
{
	size_t len = strlen(text);
	*out = NULL;
	if (len > TL_EXPR_MAX_LEN)
		return errf(err, "expression longer than %d bytes", TL_EXPR_MAX_LEN);
	struct tl_expr *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->mode = mode;
	e->text = strdup(text);
	/* Every name, string and meter is at most its own text plus a NUL. */
	e->pool_cap = 2 * len + 16;
	e->pool = malloc(e->pool_cap);
	e->nodes = malloc(sizeof(*e->nodes) * TL_EXPR_MAX_NODES);
	if (!e->text || !e->pool || !e->nodes) {
		tl_expr_free(e);
		return -ENOMEM;
	}
	struct parser ps = {.e = e, .p = e->text, .start = e->text, .err = err};
	int rc = next_tok(&ps);
	if (!rc && ps.tok == T_END)
		rc = errf(err, "SyntaxError: empty expression");
	if (!rc)
		rc = parse_or(&ps, &e->root);
	if (!rc && ps.tok != T_END)
		rc = errf(err, "SyntaxError: unexpected '%s' at offset %zu",
			  ps.tok == T_OP     ? ps.opname
			  : ps.tok == T_NAME ? ps.tstr
					     : "token",
			  ps.tok_pos);
	if (rc) {
		tl_expr_free(e);
		return rc;
	}
	/* Keep only what is used. */
	struct node *shrunk = realloc(e->nodes, sizeof(*e->nodes) * (e->n_nodes ? e->n_nodes : 1));
	if (shrunk)
		e->nodes = shrunk;
	*out = e;
	return 0;
}

void tl_expr_free(struct tl_expr *e)
{
	if (!e)
		return;
	free(e->text);
	free(e->pool);
	free(e->nodes);
	free(e);
}

const char *tl_expr_text(const struct tl_expr *e)
{
	return e->text;
}

size_t tl_expr_n_meters(const struct tl_expr *e)
{
	return e->n_meters;
}

const char *tl_expr_meter(const struct tl_expr *e, size_t i)
{
	return i < e->n_meters ? e->meters[i] : NULL;
}

/* ------------------------------------------------------------------ values */

const char *tl_expr_type_name(const struct tl_expr_value *v)
{
	switch (v->type) {
	case TL_EV_NONE:
		return "NoneType";
	case TL_EV_BOOL:
		return "bool";
	case TL_EV_INT:
		return "int";
	case TL_EV_FLOAT:
		return "float";
	case TL_EV_STR:
		return "str";
	case TL_EV_LIST:
		return "list";
	case TL_EV_MAP:
	case TL_EV_SAMPLE:
	case TL_EV_EMPTY:
		return "Namespace";
	}
	return "object";
}

bool tl_expr_truthy(const struct tl_expr_value *v)
{
	switch (v->type) {
	case TL_EV_NONE:
	case TL_EV_EMPTY:
		return false;
	case TL_EV_BOOL:
	case TL_EV_INT:
		return v->i != 0;
	case TL_EV_FLOAT:
		return v->d != 0.0;
	case TL_EV_STR:
		return v->len > 0;
	case TL_EV_MAP:
	case TL_EV_LIST:
		return v->json->len > 0;
	case TL_EV_SAMPLE:
		return true;
	}
	return false;
}

static bool is_num(const struct tl_expr_value *v)
{
	return v->type == TL_EV_BOOL || v->type == TL_EV_INT || v->type == TL_EV_FLOAT;
}

static double num_d(const struct tl_expr_value *v)
{
	return v->type == TL_EV_FLOAT ? v->d : (double)v->i;
}

int tl_expr_to_double(const struct tl_expr_value *v, double *out, char *err)
{
	if (!is_num(v))
		return errf(err, "TypeError: expected a number, got '%s'", tl_expr_type_name(v));
	*out = num_d(v);
	return 0;
}

static void from_json(const struct tl_json *j, struct tl_expr_value *out)
{
	memset(out, 0, sizeof(*out));
	switch (j->type) {
	case TL_JSON_NULL:
		out->type = TL_EV_NONE;
		break;
	case TL_JSON_FALSE:
	case TL_JSON_TRUE:
		out->type = TL_EV_BOOL;
		out->i = j->type == TL_JSON_TRUE;
		break;
	case TL_JSON_INT:
		*out = tl_expr_int(j->u.i);
		break;
	case TL_JSON_REAL:
		*out = tl_expr_float(j->u.d);
		break;
	case TL_JSON_STRING:
		out->type = TL_EV_STR;
		out->s = j->u.s;
		out->len = j->len;
		break;
	case TL_JSON_ARRAY:
		out->type = TL_EV_LIST;
		out->json = j;
		break;
	case TL_JSON_OBJECT:
		out->type = TL_EV_MAP;
		out->json = j;
		break;
	}
}

static void str_value(const char *s, struct tl_expr_value *out)
{
	memset(out, 0, sizeof(*out));
	if (!s) {
		out->type = TL_EV_NONE;
		return;
	}
	out->type = TL_EV_STR;
	out->s = s;
	out->len = strlen(s);
}

struct evalctx {
	const struct tl_expr *e;
	const struct tl_sample *const *samples;
	size_t n;
	char *err;
	char ts[4][TL_TIME_ISO_SIZE]; /* timestamps formatted for the expression */
	unsigned n_ts;
};

/* A field of a sample, as its as_dict() namespace gives it. */
static void sample_field(struct evalctx *cx, const struct tl_sample *s, const char *name,
			 struct tl_expr_value *out)
{
	memset(out, 0, sizeof(*out));
	if (strcmp(name, "volume") == 0) {
		*out = s->volume_is_int ? tl_expr_int(s->volume_int) : tl_expr_float(s->volume);
	} else if (strcmp(name, "resource_metadata") == 0) {
		if (s->resource_metadata)
			from_json(s->resource_metadata, out);
		else
			out->type = TL_EV_NONE;
	} else if (strcmp(name, "name") == 0) {
		str_value(s->counter_name, out);
	} else if (strcmp(name, "unit") == 0) {
		str_value(s->counter_unit, out);
	} else if (strcmp(name, "type") == 0) {
		str_value(tl_counter_type_name(s->counter_type), out);
	} else if (strcmp(name, "resource_id") == 0) {
		str_value(s->resource_id, out);
	} else if (strcmp(name, "user_id") == 0) {
		str_value(s->user_id, out);
	} else if (strcmp(name, "project_id") == 0) {
		str_value(s->project_id, out);
	} else if (strcmp(name, "source") == 0) {
		str_value(s->source, out);
	} else if (strcmp(name, "id") == 0) {
		str_value(s->message_id, out);
	} else if (strcmp(name, "timestamp") == 0) {
		char *buf = cx->ts[cx->n_ts++ % 4];
		if (tl_time_format(s->timestamp, buf, TL_TIME_ISO_SIZE) == 0)
			buf[0] = '\0';
		str_value(buf, out);
	} else {
		out->type = TL_EV_EMPTY;
	}
}

static int get_attr(struct evalctx *cx, const struct tl_expr_value *obj, const char *name,
		    struct tl_expr_value *out)
{
	switch (obj->type) {
	case TL_EV_SAMPLE:
		sample_field(cx, obj->smp, name, out);
		return 0;
	case TL_EV_MAP: {
		const struct tl_json *v = tl_json_get(obj->json, name);
		if (v) {
			from_json(v, out);
		} else {
			memset(out, 0, sizeof(*out));
			out->type = TL_EV_EMPTY;
		}
		return 0;
	}
	case TL_EV_EMPTY:
		*out = *obj;
		return 0;
	default:
		return errf(cx->err, "AttributeError: '%s' object has no attribute '%s'",
			    tl_expr_type_name(obj), name);
	}
}

static int compare(struct evalctx *cx, int op, const struct tl_expr_value *a,
		   const struct tl_expr_value *b, bool *res)
{
	static const char *const names[] = {"<", "<=", ">", ">=", "==", "!="};
	int c; /* -1, 0, 1 */
	if (is_num(a) && is_num(b)) {
		if (a->type != TL_EV_FLOAT && b->type != TL_EV_FLOAT) {
			c = a->i < b->i ? -1 : a->i > b->i;
		} else {
			double x = num_d(a), y = num_d(b);
			if (x != x || y != y) { /* NaN: every comparison but != is false */
				*res = op == C_NE;
				return 0;
			}
			c = x < y ? -1 : x > y;
		}
	} else if (a->type == TL_EV_STR && b->type == TL_EV_STR) {
		size_t m = a->len < b->len ? a->len : b->len;
		c = memcmp(a->s, b->s, m);
		c = c < 0 ? -1 : c > 0 ? 1 : a->len < b->len ? -1 : a->len > b->len;
	} else if (op == C_EQ || op == C_NE) {
		bool eq = a->type == b->type &&
			  (a->type == TL_EV_NONE || (a->type == TL_EV_MAP && a->json == b->json) ||
			   (a->type == TL_EV_LIST && a->json == b->json) ||
			   (a->type == TL_EV_SAMPLE && a->smp == b->smp));
		*res = op == C_EQ ? eq : !eq;
		return 0;
	} else {
		return errf(cx->err,
			    "TypeError: '%s' not supported between instances of '%s' and '%s'",
			    names[op], tl_expr_type_name(a), tl_expr_type_name(b));
	}
	switch (op) {
	case C_LT:
		*res = c < 0;
		break;
	case C_LE:
		*res = c <= 0;
		break;
	case C_GT:
		*res = c > 0;
		break;
	case C_GE:
		*res = c >= 0;
		break;
	case C_EQ:
		*res = c == 0;
		break;
	default:
		*res = c != 0;
		break;
	}
	return 0;
}

static const char *binop_name(int op)
{
	static const char *const names[] = {"+", "-", "*", "/", "//", "%", "** or pow()"};
	return names[op];
}

static int overflow(char *err)
{
	return errf(err, "OverflowError: integer result beyond 64 bits");
}

/* Python's float floor division and modulo (Objects/floatobject.c float_divmod). */
static void float_divmod(double vx, double wx, double *floordiv, double *mod)
{
	double m = fmod(vx, wx);
	double div = (vx - m) / wx;
	if (m != 0.0) {
		if ((wx < 0) != (m < 0)) {
			m += wx;
			div -= 1.0;
		}
	} else {
		m = copysign(0.0, wx);
	}
	double fd;
	if (div != 0.0) {
		fd = floor(div);
		if (div - fd > 0.5)
			fd += 1.0;
	} else {
		fd = copysign(0.0, vx / wx);
	}
	*floordiv = fd;
	*mod = m;
}

static int int_pow(int64_t base, int64_t exp, int64_t *out, char *err)
{
	int64_t r = 1;
	while (exp > 0) {
		if (exp & 1) {
			if (__builtin_mul_overflow(r, base, &r))
				return overflow(err);
		}
		exp >>= 1;
		if (exp > 0 && __builtin_mul_overflow(base, base, &base))
			return overflow(err);
	}
	*out = r;
	return 0;
}

static int do_binop(int op, const struct tl_expr_value *a, const struct tl_expr_value *b,
		    struct tl_expr_value *out, char *err)
{
	if (!is_num(a) || !is_num(b))
		return errf(err, "TypeError: unsupported operand type(s) for %s: '%s' and '%s'",
			    binop_name(op), tl_expr_type_name(a), tl_expr_type_name(b));
	bool ints = a->type != TL_EV_FLOAT && b->type != TL_EV_FLOAT;
	if (ints) {
		int64_t x = a->i, y = b->i, r = 0;
		switch (op) {
		case B_ADD:
			if (__builtin_add_overflow(x, y, &r))
				return overflow(err);
			*out = tl_expr_int(r);
			return 0;
		case B_SUB:
			if (__builtin_sub_overflow(x, y, &r))
				return overflow(err);
			*out = tl_expr_int(r);
			return 0;
		case B_MUL:
			if (__builtin_mul_overflow(x, y, &r))
				return overflow(err);
			*out = tl_expr_int(r);
			return 0;
		case B_DIV:
			if (y == 0)
				return errf(err, "ZeroDivisionError: division by zero");
			*out = tl_expr_float((double)x / (double)y);
			return 0;
		case B_FLOORDIV:
		case B_MOD:
			if (y == 0)
				return errf(err,
					    op == B_MOD
						    ? "ZeroDivisionError: integer modulo by zero"
						    : "ZeroDivisionError: integer division "
						      "or modulo by zero");
			if (x == INT64_MIN && y == -1) {
				if (op == B_MOD) {
					*out = tl_expr_int(0);
					return 0;
				}
				return overflow(err);
			}
			r = x / y;
			int64_t m = x % y;
			if (m != 0 && ((m < 0) != (y < 0))) {
				r -= 1;
				m += y;
			}
			*out = tl_expr_int(op == B_MOD ? m : r);
			return 0;
		case B_POW:
			if (y >= 0) {
				if (int_pow(x, y, &r, err))
					return -EINVAL;
				*out = tl_expr_int(r);
				return 0;
			}
			if (x == 0)
				return errf(err, "ZeroDivisionError: 0.0 cannot be raised to a "
						 "negative power");
			*out = tl_expr_float(pow((double)x, (double)y));
			return 0;
		}
	}
	double x = num_d(a), y = num_d(b), fd, m;
	switch (op) {
	case B_ADD:
		*out = tl_expr_float(x + y);
		return 0;
	case B_SUB:
		*out = tl_expr_float(x - y);
		return 0;
	case B_MUL:
		*out = tl_expr_float(x * y);
		return 0;
	case B_DIV:
		if (y == 0.0)
			return errf(err, "ZeroDivisionError: float division by zero");
		*out = tl_expr_float(x / y);
		return 0;
	case B_FLOORDIV:
	case B_MOD:
		if (y == 0.0)
			return errf(err,
				    op == B_MOD
					    ? "ZeroDivisionError: float modulo"
					    : "ZeroDivisionError: float floor division by zero");
		float_divmod(x, y, &fd, &m);
		*out = tl_expr_float(op == B_MOD ? m : fd);
		return 0;
	default:
		if (x == 0.0 && y < 0.0)
			return errf(err,
				    "ZeroDivisionError: 0.0 cannot be raised to a negative power");
		if (x < 0.0 && y != floor(y) && isfinite(y))
			return errf(err, "ValueError: a negative number to a fractional power "
					 "(complex result) is not supported");
		double r = pow(x, y);
		if (isinf(r) && isfinite(x) && isfinite(y))
			return errf(err, "OverflowError: (34, 'Numerical result out of range')");
		*out = tl_expr_float(r);
		return 0;
	}
}

int tl_expr_binop(char op, const struct tl_expr_value *a, const struct tl_expr_value *b,
		  struct tl_expr_value *out, char *err)
{
	switch (op) {
	case '+':
		return do_binop(B_ADD, a, b, out, err);
	case '-':
		return do_binop(B_SUB, a, b, out, err);
	case '*':
		return do_binop(B_MUL, a, b, out, err);
	case '/':
		return do_binop(B_DIV, a, b, out, err);
	}
	return errf(err, "unknown operator '%c'", op);
}

static int eval_node(struct evalctx *cx, int32_t idx, struct tl_expr_value *out)
{
	const struct node *n = &cx->e->nodes[idx];
	struct tl_expr_value a, b;
	int rc;

	switch ((enum node_op)n->op) {
	case N_LIT:
		*out = n->lit;
		return 0;
	case N_NAME:
		if (cx->e->mode == TL_EXPR_SCALE && cx->n >= 1) {
			sample_field(cx, cx->samples[0], n->str, out);
		} else {
			memset(out, 0, sizeof(*out));
			out->type = TL_EV_EMPTY;
		}
		return 0;
	case N_METER:
		if ((size_t)n->meter >= cx->n || !cx->samples[n->meter])
			return errf(cx->err, "NameError: no sample for meter '%s'",
				    cx->e->meters[n->meter]);
		memset(out, 0, sizeof(*out));
		out->type = TL_EV_SAMPLE;
		out->smp = cx->samples[n->meter];
		return 0;
	case N_ATTR:
		if ((rc = eval_node(cx, n->a, &a)))
			return rc;
		return get_attr(cx, &a, n->str, out);
	case N_INDEX:
		if ((rc = eval_node(cx, n->a, &a)) || (rc = eval_node(cx, n->b, &b)))
			return rc;
		if (a.type == TL_EV_LIST) {
			if (b.type != TL_EV_INT && b.type != TL_EV_BOOL)
				return errf(cx->err,
					    "TypeError: list indices must be integers or slices, "
					    "not %s",
					    tl_expr_type_name(&b));
			int64_t i = b.i < 0 ? b.i + (int64_t)a.json->len : b.i;
			if (i < 0 || i >= (int64_t)a.json->len)
				return errf(cx->err, "IndexError: list index out of range");
			from_json(&a.json->u.items[i], out);
			return 0;
		}
		if (a.type == TL_EV_MAP || a.type == TL_EV_SAMPLE || a.type == TL_EV_EMPTY) {
			if (b.type != TL_EV_STR || memchr(b.s, '\0', b.len)) {
				/* A defaultdict: a key that cannot be there is missing. */
				memset(out, 0, sizeof(*out));
				out->type = TL_EV_EMPTY;
				return 0;
			}
			return get_attr(cx, &a, b.s, out);
		}
		return errf(cx->err, "TypeError: '%s' object is not subscriptable",
			    tl_expr_type_name(&a));
	case N_CALL:
		if ((rc = eval_node(cx, n->a, &a)))
			return rc;
		for (int32_t arg = n->b; arg >= 0; arg = cx->e->nodes[arg].next)
			if ((rc = eval_node(cx, arg, &b)))
				return rc;
		return errf(cx->err, "TypeError: '%s' object is not callable",
			    tl_expr_type_name(&a));
	case N_NEG:
	case N_POS:
	case N_INV:
		if ((rc = eval_node(cx, n->a, &a)))
			return rc;
		if (!is_num(&a) || (n->op == N_INV && a.type == TL_EV_FLOAT))
			return errf(cx->err, "TypeError: bad operand type for unary %c: '%s'",
				    n->op == N_NEG   ? '-'
				    : n->op == N_POS ? '+'
						     : '~',
				    tl_expr_type_name(&a));
		if (a.type == TL_EV_FLOAT) {
			*out = tl_expr_float(n->op == N_NEG ? -a.d : a.d);
			return 0;
		}
		if (n->op == N_NEG && a.i == INT64_MIN)
			return overflow(cx->err);
		*out = tl_expr_int(n->op == N_NEG ? -a.i : n->op == N_INV ? ~a.i : a.i);
		return 0;
	case N_NOT:
		if ((rc = eval_node(cx, n->a, &a)))
			return rc;
		memset(out, 0, sizeof(*out));
		out->type = TL_EV_BOOL;
		out->i = !tl_expr_truthy(&a);
		return 0;
	case N_AND:
	case N_OR:
		if ((rc = eval_node(cx, n->a, &a)))
			return rc;
		if (tl_expr_truthy(&a) == (n->op == N_OR)) {
			*out = a;
			return 0;
		}
		return eval_node(cx, n->b, out);
	case N_BIN:
		if ((rc = eval_node(cx, n->a, &a)) || (rc = eval_node(cx, n->b, &b)))
			return rc;
		return do_binop(n->sub, &a, &b, out, cx->err);
	case N_CMP: {
		bool res = true;
		if ((rc = eval_node(cx, n->a, &a)))
			return rc;
		for (int32_t r = n->b; r >= 0 && res; r = cx->e->nodes[r].next) {
			if ((rc = eval_node(cx, r, &b)) ||
			    (rc = compare(cx, cx->e->nodes[r].sub, &a, &b, &res)))
				return rc;
			a = b;
		}
		memset(out, 0, sizeof(*out));
		out->type = TL_EV_BOOL;
		out->i = res;
		return 0;
	}
	}
	return errf(cx->err, "internal error: bad node");
}

int tl_expr_eval(const struct tl_expr *e, const struct tl_sample *const *samples, size_t n,
		 struct tl_expr_value *out, char *err)
{
	struct evalctx cx = {.e = e, .samples = samples, .n = n, .err = err};
	return eval_node(&cx, e->root, out);
}
