/*
 * sigcheck — verifies ceilometer message signatures, one JSON message per
 * line on stdin, with the secret given as argv[1]. Prints "ok <variant>" or
 * "bad" per line; exits 1 if any line is bad, 2 on a usage or system error.
 * Each message is checked twice, parsed by jansson and by common/json.h (the
 * ingest path); when the two disagree the line is "mismatch" (and bad).
 * Used by tests/integration/ceilometer_signatures.sh.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/signature.h"

static const char *const variant_names[TL_SIG_NVARIANTS] = {
	[TL_SIG_PY3] = "py3",
	[TL_SIG_PY2] = "py2",
	[TL_SIG_PY3_BYTES] = "py3-bytes",
};

int main(int argc, char **argv)
{
	struct tl_signer *signer = NULL;
	struct tl_buf scratch, copy;
	struct tl_json_doc doc;
	enum tl_sig_variant variant, variant2;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int status = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s SECRET < messages.jsonl\n", argv[0]);
		return 2;
	}
	if (tl_signer_create(argv[1], strlen(argv[1]), &signer) < 0) {
		fprintf(stderr, "sigcheck: cannot create the signer\n");
		return 2;
	}
	tl_buf_init(&scratch);
	tl_buf_init(&copy);
	tl_json_doc_init(&doc);
	while ((n = getline(&line, &cap, stdin)) > 0) {
		struct tl_json_error jerr;
		json_error_t err;
		json_t *msg;
		bool ok, ok2;

		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0)
			continue;
		msg = json_loadb(line, (size_t)n, 0, &err);
		ok = msg && tl_signature_verify(signer, msg, &scratch, &variant);
		/* common/json.h parses in place: give it a copy. */
		tl_buf_reset(&copy);
		if (tl_buf_append(&copy, line, (size_t)n) < 0) {
			fprintf(stderr, "sigcheck: out of memory\n");
			status = 2;
			json_decref(msg);
			break;
		}
		ok2 = tl_json_parse(&doc, copy.data, copy.len, TL_JSON_MAX_DEPTH, &jerr) == 0 &&
		      tl_signature_verify_value(signer, doc.root, &scratch, &variant2);
		if (ok != ok2 || (ok && variant != variant2)) {
			printf("mismatch\n");
			status = 1;
		} else if (ok) {
			printf("ok %s\n", variant_names[variant]);
		} else {
			printf("bad\n");
			status = 1;
		}
		json_decref(msg);
	}
	if (ferror(stdin)) {
		fprintf(stderr, "sigcheck: read error\n");
		status = 2;
	}
	free(line);
	tl_json_doc_fini(&doc);
	tl_buf_fini(&copy);
	tl_buf_fini(&scratch);
	tl_signer_destroy(signer);
	return status;
}
