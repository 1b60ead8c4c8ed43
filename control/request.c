/* request.c — the control API's answer toolkit (request.h). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/json.h"
#include "common/time.h"
#include "control/request.h"

void tl_control_put_headers(struct tl_control_req *q)
{
	tl_buf_puts(&q->resp->headers, "Content-Type: application/json\r\n");
	tl_buf_printf(&q->resp->headers, "X-Openstack-Request-Id: %s\r\n", q->id);
}

/* An error answer. Returns 0. */
int tl_control_error(struct tl_control_req *q, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = tl_vformat(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	q->resp->status = status;
	tl_buf_reset(&q->resp->body);
	tl_buf_printf(&q->resp->body, "{\"error\": {\"status\": %d, \"message\": ", status);
	tl_json_write_string(msg, n, &q->resp->body);
	tl_buf_printf(&q->resp->body, ", \"request_id\": \"%s\"}}\n", q->id);
	return 0;
}

void tl_control_put_str(struct tl_buf *b, const char *s)
{
	tl_json_write_string(s, strlen(s), b);
}

void tl_control_put_time(struct tl_buf *b, double unix_s)
{
	char t[64];

	if (unix_s <= 0) {
		tl_buf_puts(b, "null");
		return;
	}
	tl_time_format((int64_t)(unix_s * 1e6), t, sizeof(t));
	tl_buf_printf(b, "\"%s\"", t);
}

/* The value of argument name, or NULL. */
const char *tl_control_arg(const struct tl_control_req *q, const char *name)
{
	size_t i;

	for (i = 0; i < q->http->n_args; i++)
		if (strcmp(q->http->args[i].name, name) == 0)
			return q->http->args[i].value;
	return NULL;
}

int tl_control_need_collector(struct tl_control_req *q)
{
	if (q->ctl->collector)
		return 0;
	return tl_control_error(q, 409, "The collector role does not run in this tallyd") + 1;
}

int tl_control_method_not_allowed(struct tl_control_req *q, const char *allow)
{
	tl_buf_printf(&q->resp->headers, "Allow: %s\r\n", allow);
	return tl_control_error(q, 405, "Method not allowed here (allowed: %s)", allow);
}
