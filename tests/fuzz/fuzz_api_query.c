/*
 * fuzz_api_query — libFuzzer target for api/query.c: whatever a client puts
 * in a query string or a request body must be answered with 0 or a status,
 * never a crash, a leak or a read past its input. The first byte picks the
 * entry: URL arguments ("a=b&c=d", as the HTTP server hands them over) through
 * q_from_args, parse_simple (every target), parse_stats and parse_events;
 * or a JSON body through q_from_json and parse_complex.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void from_args(char *text)
{
	const char *names[128], *values[128], *g[TL_API_MAX_GROUPBY], *f[TL_API_MAX_AGG],
		*p[TL_API_MAX_AGG];
	struct tl_api_qitem q[TL_API_MAX_Q];
	struct tl_api_query_mem mem;
	struct tl_api_event_mem emem;
	struct tl_api_err err;
	struct tl_sample_filter filt;
	struct tl_stats_query sq;
	struct tl_event_query eq;
	size_t n = 0, nq = 0, ng = 0, nf = 0, np = 0, i, lim;
	char *save = NULL, *tok;
	int64_t iv;
	bool bv;

	for (tok = strtok_r(text, "&", &save); tok && n < 128; tok = strtok_r(NULL, "&", &save)) {
		char *eqs = strchr(tok, '=');

		if (eqs)
			*eqs++ = '\0';
		names[n] = tok;
		values[n] = eqs ? eqs : "";
		if (strcmp(tok, "groupby") == 0 && ng < TL_API_MAX_GROUPBY)
			g[ng++] = values[n];
		if (strcmp(tok, "aggregate.func") == 0 && nf < TL_API_MAX_AGG)
			f[nf++] = values[n];
		if (strcmp(tok, "aggregate.param") == 0 && np < TL_API_MAX_AGG)
			p[np++] = values[n];
		n++;
	}
	if (tl_api_q_from_args(names, values, n, q, &nq, &err) != 0)
		return;
	for (i = 0; i < 3; i++) {
		tl_api_parse_simple(q, nq, (enum tl_api_qtarget)i, NULL, &filt, &mem, &err);
		tl_api_parse_simple(q, nq, (enum tl_api_qtarget)i, "p1", &filt, &mem, &err);
	}
	memset(&sq, 0, sizeof(sq));
	tl_api_parse_stats(n ? values[0] : NULL, g, ng, f, nf, p, np, &sq, &err);
	tl_api_parse_events(q, nq, &eq, &emem, &err);
	for (i = 0; i < n; i++) {
		tl_api_parse_limit(values[i], 100, 10000, &lim, &err);
		tl_api_parse_int("x", values[i], &iv, &err);
		tl_api_parse_bool("x", values[i], &bv, &err);
	}
}

static void from_json(char *text, size_t len)
{
	struct tl_json_doc doc;
	struct tl_json_error jerr;
	struct tl_api_qitem q[TL_API_MAX_Q];
	struct tl_api_query_mem mem;
	struct tl_api_err err;
	struct tl_sample_filter filt;
	struct tl_api_complex *cq = malloc(sizeof(*cq));
	size_t nq = 0;

	if (!cq)
		return;
	tl_json_doc_init(&doc);
	if (tl_json_parse(&doc, text, len, 64, &jerr) == 0) {
		if (tl_api_q_from_json(&doc, doc.root, q, &nq, &err) == 0)
			tl_api_parse_simple(q, nq, TL_APIQ_SAMPLES, "p1", &filt, &mem, &err);
		tl_api_complex_init(cq);
		tl_api_parse_complex(cq, doc.root, NULL, 100, 10000, &err);
		tl_api_complex_fini(cq);
		tl_api_complex_init(cq);
		tl_api_parse_complex(cq, doc.root, "p1", 100, 10000, &err);
		tl_api_complex_fini(cq);
	}
	tl_json_doc_fini(&doc);
	free(cq);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (size < 1 || size > 65536)
		return 0;
	text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	if (data[0] & 1)
		from_json(text, size - 1);
	else
		from_args(text);
	free(text);
	return 0;
}
