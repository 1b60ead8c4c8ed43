/*
 * sigcheck — verifies ceilometer message signatures, one JSON message per
 * line on stdin, with the secret given as argv[1]. Prints "ok <variant>" or
 * "bad" per line (also when the line is not JSON); exits 1 if any line is
 * bad, 2 on a usage or system error. Messages are parsed by common/json.h, as
 * on the ingest path. Used by tests/integration/ceilometer_signatures.sh.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	struct tl_buf scratch;
	struct tl_json_doc doc;
	enum tl_sig_variant variant;
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
	tl_json_doc_init(&doc);
	while ((n = getline(&line, &cap, stdin)) > 0) {
		struct tl_json_error jerr;

		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0)
			continue;
		/* Parsed in place: the line is ours and not used afterwards. */
		if (tl_json_parse(&doc, line, (size_t)n, TL_JSON_MAX_DEPTH, &jerr) == 0 &&
		    tl_signature_verify(signer, doc.root, &scratch, &variant)) {
			printf("ok %s\n", variant_names[variant]);
		} else {
			printf("bad\n");
			status = 1;
		}
	}
	if (ferror(stdin)) {
		fprintf(stderr, "sigcheck: read error\n");
		status = 2;
	}
	free(line);
	tl_json_doc_fini(&doc);
	tl_buf_fini(&scratch);
	tl_signer_destroy(signer);
	return status;
}
