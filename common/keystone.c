/* keystone.c — see keystone.h. */
#include "config.h"

#include "common/keystone.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/json.h"
#include "common/log.h"
#include "common/time.h"

#define COMPONENT	  "keystone"
#define MAX_BODY	  (1024 * 1024)
#define NEGATIVE_TTL_US	  (5 * 1000000LL) /* an invalid token is remembered this long */
#define RENEW_BEFORE_US	  (60 * 1000000LL)
#define SERVICE_TOKEN_MAX 8192

struct entry {
	uint8_t key[SHA256_DIGEST_LENGTH];
	bool used;
	bool valid;
	int64_t until; /* µs time */
	struct tl_identity id;
};

struct tl_keystone {
	const struct tl_keystone_conf *conf;
	pthread_mutex_t mu;
	struct entry *cache;
	size_t n_cache;
	char service_token[SERVICE_TOKEN_MAX];
	int64_t service_expires; /* 0: none */
	int64_t service_margin;	 /* renewed this long before it expires */
};

/* ---- schema ---------------------------------------------------------------- */

#define K(field) offsetof(struct tl_keystone_conf, field)

int tl_keystone_conf_require(struct tl_keystone_conf *k, const struct tl_conf_check *c,
			     const char *prefix)
{
	const struct tl_conf_node *ks = tl_conf_map_get(c->node, "keystone");
	const struct tl_conf_check kc = {ks, ks ? ks : c->at, prefix, c->errs};
	static const char *const needed[] = {"auth_url", "username", "password", "project_name"};
	const char *const values[] = {k->auth_url, k->username, k->password, k->project_name};
	int rc = 0;
	size_t i;

	for (i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		if (values[i] && *values[i])
			continue;
		tl_conf_error(c->errs, tl_conf_check_at(&kc, needed[i]),
			      "%s.keystone.%s: required when %s.auth is keystone", prefix,
			      needed[i], prefix);
		rc = -EINVAL;
	}
	if (rc == 0 && k->auth_url && !k->www_authenticate_uri) {
		k->www_authenticate_uri = strdup(k->auth_url);
		if (!k->www_authenticate_uri)
			return -ENOMEM;
	}
	return rc;
}

const struct tl_conf_item tl_keystone_conf_items[] = {
	{.key = "auth_url",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE,
	 .def = "null",
	 .offset = K(auth_url),
	 .help = "Keystone v3 endpoint, e.g. http://keystone:5000/v3"},
	{.key = "www_authenticate_uri",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE,
	 .def = "null",
	 .offset = K(www_authenticate_uri),
	 .help = "Keystone URL announced to clients on 401; null: auth_url"},
	{.key = "username",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE,
	 .def = "null",
	 .offset = K(username),
	 .help = "service user (it needs the service or admin role to validate tokens)"},
	{.key = "password",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE | TL_CONF_SECRET,
	 .def = "null",
	 .offset = K(password),
	 .help = "its password"},
	{.key = "project_name",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE,
	 .def = "null",
	 .offset = K(project_name),
	 .help = "its project"},
	{.key = "user_domain_name",
	 .type = TL_CONF_STRING,
	 .def = "Default",
	 .offset = K(user_domain_name),
	 .help = "domain of the user"},
	{.key = "project_domain_name",
	 .type = TL_CONF_STRING,
	 .def = "Default",
	 .offset = K(project_domain_name),
	 .help = "domain of the project"},
	{.key = "region_name",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE,
	 .def = "null",
	 .offset = K(region_name),
	 .help = "region in the catalog; null: any"},
	{.key = "cache_time",
	 .type = TL_CONF_INT,
	 .def = "300",
	 .min = 0,
	 .max = 86400,
	 .offset = K(cache_time),
	 .help = "seconds a validated token is cached; 0 disables the cache"},
	{.key = "timeout",
	 .type = TL_CONF_DOUBLE,
	 .def = "5",
	 .dmin = 0.1,
	 .dmax = 300,
	 .offset = K(timeout),
	 .help = "seconds per request to Keystone"},
	{0},
};

/* ---- identity -------------------------------------------------------------- */

bool tl_identity_has_role(const struct tl_identity *id, const char *role)
{
	const char *p = id->roles;
	size_t n = strlen(role);

	if (n == 0)
		return false;
	while ((p = strchr(p, ',')) != NULL) {
		p++;
		if (strncasecmp(p, role, n) == 0 && p[n] == ',')
			return true;
	}
	return false;
}

/* ---- HTTP ------------------------------------------------------------------ */

struct reply {
	struct tl_buf body;
	bool too_big;
	char subject[SERVICE_TOKEN_MAX]; /* X-Subject-Token */
};

static size_t on_body(char *p, size_t size, size_t n, void *cls)
{
	struct reply *r = cls;
	size_t len = size * n;

	if (r->body.len + len > MAX_BODY) {
		r->too_big = true;
		return 0; /* curl stops with CURLE_WRITE_ERROR */
	}
	return tl_buf_append(&r->body, p, len) < 0 ? 0 : len;
}

static size_t on_header(char *p, size_t size, size_t n, void *cls)
{
	struct reply *r = cls;
	size_t len = size * n;
	static const char name[] = "x-subject-token:";

	if (len > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0) {
		const char *v = p + sizeof(name) - 1;
		size_t vl = len - (sizeof(name) - 1);

		while (vl && (*v == ' ' || *v == '\t')) {
			v++;
			vl--;
		}
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
			vl--;
		if (vl < sizeof(r->subject)) {
			memcpy(r->subject, v, vl);
			r->subject[vl] = '\0';
		}
	}
	return len;
}

/*
 * One request. headers: "Name: value" lines, NULL-terminated. Returns the
 * HTTP status (> 0), or -EAGAIN when there was no answer (why set).
 */
static long request(struct tl_keystone *k, const char *method, const char *path,
		    const char *const *headers, const char *body, struct reply *out,
		    struct tl_buf *why)
{
	struct curl_slist *hl = NULL;
	char url[2048], err[CURL_ERROR_SIZE] = "";
	CURL *h;
	CURLcode cc;
	long status = 0;
	size_t i, n = strlen(k->conf->auth_url);

	while (n && k->conf->auth_url[n - 1] == '/')
		n--;
	if ((size_t)snprintf(url, sizeof(url), "%.*s%s", (int)n, k->conf->auth_url, path) >=
	    sizeof(url)) {
		if (why)
			tl_buf_puts(why, "keystone URL too long");
		return -EINVAL;
	}
	h = curl_easy_init();
	if (!h)
		return -ENOMEM;
	for (i = 0; headers && headers[i]; i++)
		hl = curl_slist_append(hl, headers[i]);
	if (body)
		hl = curl_slist_append(hl, "Content-Type: application/json");
	hl = curl_slist_append(hl, "Accept: application/json");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (body)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, out);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(k->conf->timeout * 1000.0));
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	cc = curl_easy_perform(h);
	if (cc == CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	} else {
		if (why)
			tl_buf_printf(why, "%s %s: %s", method, k->conf->auth_url,
				      out->too_big ? "answer over 1 MiB"
						   : (*err ? err : curl_easy_strerror(cc)));
		status = -EAGAIN;
	}
	curl_slist_free_all(hl);
	curl_easy_cleanup(h);
	return status;
}

/* Appends s as a JSON string. */
static void jstr(struct tl_buf *b, const char *s)
{
	tl_json_write_string(s ? s : "", s ? strlen(s) : 0, b);
}

/* token.expires_at of a token body, or 0. */
static int64_t expires_of(const struct tl_json *token)
{
	const struct tl_json *e = tl_json_get(token, "expires_at");
	int64_t t = 0;

	if (e && e->type == TL_JSON_STRING && tl_time_parse(e->u.s, e->len, &t) == 0)
		return t;
	return 0;
}

/* Gets a new service token; k->mu held. */
static int renew_service_token(struct tl_keystone *k, struct tl_buf *why)
{
	const struct tl_keystone_conf *c = k->conf;
	struct reply rep;
	struct tl_buf req;
	struct tl_json_doc doc;
	struct tl_json_error jerr;
	const struct tl_json *tok;
	int64_t now;
	long st;
	int rc = 0;

	memset(&rep, 0, sizeof(rep));
	tl_buf_init(&rep.body);
	tl_buf_init(&req);
	tl_json_doc_init(&doc);
	tl_buf_puts(&req, "{\"auth\": {\"identity\": {\"methods\": [\"password\"], \"password\": "
			  "{\"user\": {\"name\": ");
	jstr(&req, c->username);
	tl_buf_puts(&req, ", \"domain\": {\"name\": ");
	jstr(&req, c->user_domain_name);
	tl_buf_puts(&req, "}, \"password\": ");
	jstr(&req, c->password);
	tl_buf_puts(&req, "}}}, \"scope\": {\"project\": {\"name\": ");
	jstr(&req, c->project_name);
	tl_buf_puts(&req, ", \"domain\": {\"name\": ");
	jstr(&req, c->project_domain_name);
	tl_buf_puts(&req, "}}}}}");
	if (tl_buf_error(&req)) {
		rc = -ENOMEM;
		goto out;
	}
	st = request(k, "POST", "/auth/tokens?nocatalog", NULL, req.data, &rep, why);
	if (st < 0) {
		rc = (int)st;
		goto out;
	}
	if (st == 401 || st == 403 || st == 404) {
		if (why)
			tl_buf_printf(why,
				      "Keystone refused the service credentials (user %s, project "
				      "%s): HTTP %ld",
				      c->username ? c->username : "?",
				      c->project_name ? c->project_name : "?", st);
		rc = -EACCES;
		goto out;
	}
	if (st != 201 || !rep.subject[0]) {
		if (why)
			tl_buf_printf(why, "Keystone answered HTTP %ld to the service login", st);
		rc = -EAGAIN;
		goto out;
	}
	now = tl_time_now();
	k->service_expires = now + 3600 * 1000000LL;
	if (rep.body.len && tl_json_parse(&doc, rep.body.data, rep.body.len, 32, &jerr) == 0 &&
	    (tok = tl_json_get(doc.root, "token")) != NULL && expires_of(tok))
		k->service_expires = expires_of(tok);
	/* A minute ahead, or a quarter of a short lifetime. */
	k->service_margin = (k->service_expires - now) / 4;
	if (k->service_margin > RENEW_BEFORE_US)
		k->service_margin = RENEW_BEFORE_US;
	memcpy(k->service_token, rep.subject, sizeof(k->service_token));
out:
	/* The request held the password. */
	if (req.data)
		memset(req.data, 0, req.cap);
	tl_buf_fini(&req);
	tl_buf_fini(&rep.body);
	tl_json_doc_fini(&doc);
	memset(rep.subject, 0, sizeof(rep.subject));
	return rc;
}

int tl_keystone_service_token(struct tl_keystone *k, char *out, size_t size, struct tl_buf *why)
{
	int rc = 0;

	pthread_mutex_lock(&k->mu);
	if (!k->service_expires || k->service_expires - k->service_margin < tl_time_now())
		rc = renew_service_token(k, why);
	if (rc == 0) {
		if (strlen(k->service_token) >= size)
			rc = -ENOSPC;
		else
			memcpy(out, k->service_token, strlen(k->service_token) + 1);
	}
	pthread_mutex_unlock(&k->mu);
	return rc;
}

void tl_keystone_forget_service_token(struct tl_keystone *k, const char *refused)
{
	pthread_mutex_lock(&k->mu);
	if (strcmp(k->service_token, refused) == 0) {
		k->service_expires = 0;
		memset(k->service_token, 0, sizeof(k->service_token));
	}
	pthread_mutex_unlock(&k->mu);
}

int tl_keystone_project_id(struct tl_keystone *k, const char *name, char *out, size_t size,
			   struct tl_buf *why)
{
	char token[SERVICE_TOKEN_MAX], hdr[SERVICE_TOKEN_MAX + 32], path[512];
	const char *headers[] = {hdr, NULL};
	struct reply rep;
	struct tl_json_doc doc;
	struct tl_json_error jerr;
	const struct tl_json *list, *id;
	char *esc;
	long st;
	int rc;

	rc = tl_keystone_service_token(k, token, sizeof(token), why);
	if (rc < 0)
		return rc;
	esc = curl_easy_escape(NULL, name, 0);
	if (!esc)
		return -ENOMEM;
	snprintf(hdr, sizeof(hdr), "X-Auth-Token: %s", token);
	snprintf(path, sizeof(path), "/projects?name=%s", esc);
	curl_free(esc);
	memset(&rep, 0, sizeof(rep));
	tl_buf_init(&rep.body);
	tl_json_doc_init(&doc);
	st = request(k, "GET", path, headers, NULL, &rep, why);
	if (st < 0) {
		rc = (int)st;
	} else if (st == 401 || st == 403) {
		if (why)
			tl_buf_printf(why, "Keystone refused to list projects: HTTP %ld", st);
		rc = -EACCES;
	} else if (st != 200) {
		if (why)
			tl_buf_printf(why, "Keystone answered HTTP %ld to a project lookup", st);
		rc = -EAGAIN;
	} else if (tl_json_parse(&doc, rep.body.data, rep.body.len, 32, &jerr) < 0 ||
		   !(list = tl_json_get(doc.root, "projects")) || list->type != TL_JSON_ARRAY) {
		if (why)
			tl_buf_puts(why, "Keystone's project list is not what v3 sends");
		rc = -EAGAIN;
	} else if (!list->len) {
		rc = -ENOENT;
	} else if (!(id = tl_json_get(&list->u.items[0], "id")) || id->type != TL_JSON_STRING ||
		   id->len >= size) {
		rc = -EAGAIN;
	} else {
		memcpy(out, id->u.s, id->len + 1);
		rc = 0;
	}
	memset(token, 0, sizeof(token));
	memset(hdr, 0, sizeof(hdr));
	tl_buf_fini(&rep.body);
	tl_json_doc_fini(&doc);
	return rc;
}

/* ---- the cache ------------------------------------------------------------- */

static struct entry *slot(struct tl_keystone *k, const uint8_t *key)
{
	uint64_t h;

	memcpy(&h, key, sizeof(h));
	return &k->cache[h % k->n_cache];
}

/* Returns 1 (cached valid, *out set), 0 (cached invalid) or -1 (not cached). */
static int cache_get(struct tl_keystone *k, const uint8_t *key, struct tl_identity *out)
{
	struct entry *e;
	int r = -1;

	if (!k->n_cache)
		return -1;
	pthread_mutex_lock(&k->mu);
	e = slot(k, key);
	if (e->used && memcmp(e->key, key, sizeof(e->key)) == 0 && e->until > tl_time_now()) {
		r = e->valid ? 1 : 0;
		if (e->valid)
			*out = e->id;
	}
	pthread_mutex_unlock(&k->mu);
	return r;
}

static void cache_put(struct tl_keystone *k, const uint8_t *key, const struct tl_identity *id,
		      int64_t until)
{
	struct entry *e;

	if (!k->n_cache)
		return;
	pthread_mutex_lock(&k->mu);
	e = slot(k, key);
	memcpy(e->key, key, sizeof(e->key));
	e->used = true;
	e->valid = id != NULL;
	e->until = until;
	if (id)
		e->id = *id;
	pthread_mutex_unlock(&k->mu);
}

/* ---- validation ------------------------------------------------------------ */

static int copy_str(const struct tl_json *v, char *out, size_t size)
{
	if (!v || v->type != TL_JSON_STRING || v->len >= size)
		return -EBADMSG;
	memcpy(out, v->u.s, v->len + 1);
	return 0;
}

/* The identity of a validation answer {"token": {...}}. */
static int parse_identity(char *body, size_t len, struct tl_identity *id)
{
	struct tl_json_doc doc;
	struct tl_json_error jerr;
	const struct tl_json *tok, *roles, *user, *proj;
	size_t i, used = 1;
	int rc = -EBADMSG;

	memset(id, 0, sizeof(*id));
	tl_json_doc_init(&doc);
	if (tl_json_parse(&doc, body, len, 32, &jerr) < 0)
		goto out;
	tok = tl_json_get(doc.root, "token");
	user = tl_json_get(tok, "user");
	proj = tl_json_get(tok, "project");
	roles = tl_json_get(tok, "roles");
	if (!user || copy_str(tl_json_get(user, "id"), id->user_id, sizeof(id->user_id)) < 0)
		goto out;
	if (proj && copy_str(tl_json_get(proj, "id"), id->project_id, sizeof(id->project_id)) < 0)
		goto out;
	id->roles[0] = ',';
	for (i = 0; roles && roles->type == TL_JSON_ARRAY && i < roles->len; i++) {
		const struct tl_json *name = tl_json_get(&roles->u.items[i], "name");

		if (!name || name->type != TL_JSON_STRING ||
		    used + name->len + 2 > sizeof(id->roles))
			continue;
		memcpy(id->roles + used, name->u.s, name->len);
		used += name->len;
		id->roles[used++] = ',';
	}
	id->roles[used] = '\0';
	id->expires = expires_of(tok);
	rc = 0;
out:
	tl_json_doc_fini(&doc);
	return rc;
}

int tl_keystone_validate(struct tl_keystone *k, const char *token, struct tl_identity *out,
			 struct tl_buf *why)
{
	uint8_t key[SHA256_DIGEST_LENGTH];
	char service[SERVICE_TOKEN_MAX], auth[SERVICE_TOKEN_MAX + 32],
		subject[SERVICE_TOKEN_MAX + 32];
	const char *headers[3] = {auth, subject, NULL};
	struct reply rep;
	int attempt, rc = -EAGAIN;
	int64_t now, until;
	long st;

	if (!token || !*token || strlen(token) > SERVICE_TOKEN_MAX - 1 || strpbrk(token, "\r\n"))
		return -EACCES;
	SHA256((const unsigned char *)token, strlen(token), key);
	switch (cache_get(k, key, out)) {
	case 1:
		return 0;
	case 0:
		return -EACCES;
	default:
		break;
	}
	memset(&rep, 0, sizeof(rep));
	tl_buf_init(&rep.body);
	for (attempt = 0; attempt < 2; attempt++) {
		rc = tl_keystone_service_token(k, service, sizeof(service), why);
		if (rc == -EACCES)
			rc = -EAGAIN; /* our credentials, not the caller's token */
		if (rc < 0)
			break;
		snprintf(auth, sizeof(auth), "X-Auth-Token: %s", service);
		snprintf(subject, sizeof(subject), "X-Subject-Token: %s", token);
		tl_buf_reset(&rep.body);
		rep.too_big = false;
		st = request(k, "GET", "/auth/tokens?nocatalog", headers, NULL, &rep, why);
		if (st < 0) {
			rc = (int)st;
			break;
		}
		if (st == 200) {
			now = tl_time_now();
			rc = parse_identity(rep.body.data, rep.body.len, out);
			if (rc < 0) {
				if (why)
					tl_buf_puts(why,
						    "Keystone's validation answer has no user");
				rc = -EAGAIN;
				break;
			}
			until = now + k->conf->cache_time * 1000000LL;
			if (out->expires && out->expires < until)
				until = out->expires;
			if (k->conf->cache_time > 0)
				cache_put(k, key, out, until);
			rc = 0;
			break;
		}
		if (st == 404) {
			/* Unknown, malformed, expired or revoked (Keystone answers 404). */
			cache_put(k, key, NULL, tl_time_now() + NEGATIVE_TTL_US);
			rc = -EACCES;
			break;
		}
		if (st == 401 && attempt == 0) {
			/* Our own token expired or was revoked: a new one, once. */
			tl_keystone_forget_service_token(k, service);
			continue;
		}
		if (why)
			tl_buf_printf(why, "Keystone answered HTTP %ld to a token validation%s", st,
				      st == 403 ? " (the service user needs the service or admin "
						  "role)"
						: "");
		rc = -EAGAIN;
		break;
	}
	memset(subject, 0, sizeof(subject));
	memset(auth, 0, sizeof(auth));
	memset(service, 0, sizeof(service));
	tl_buf_fini(&rep.body);
	return rc;
}

/* ---- life ------------------------------------------------------------------ */

int tl_keystone_create(const struct tl_keystone_conf *conf, size_t max_cache,
		       struct tl_keystone **out)
{
	struct tl_keystone *k;

	*out = NULL;
	if (!conf->auth_url || !*conf->auth_url)
		return -EINVAL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -ENOMEM;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->conf = conf;
	k->n_cache = conf->cache_time > 0 ? max_cache : 0;
	if (k->n_cache) {
		k->cache = calloc(k->n_cache, sizeof(*k->cache));
		if (!k->cache) {
			free(k);
			return -ENOMEM;
		}
	}
	pthread_mutex_init(&k->mu, NULL);
	*out = k;
	return 0;
}

void tl_keystone_destroy(struct tl_keystone *k)
{
	if (!k)
		return;
	pthread_mutex_destroy(&k->mu);
	if (k->cache) {
		memset(k->cache, 0, k->n_cache * sizeof(*k->cache));
		free(k->cache);
	}
	memset(k->service_token, 0, sizeof(k->service_token));
	free(k);
}
