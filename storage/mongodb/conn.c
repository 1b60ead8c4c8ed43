/*
 * conn.c — the connection core of the MongoDB driver: libmongoc's
 * initialization, the client and its write concern from the URL, commands,
 * and libmongoc's errors as errno values (mg_err).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "storage/mongodb/mongo_internal.h"

/* Server selection gives up after this long unless the URL says otherwise:
 * a store that is down is -EAGAIN soon, not after libmongoc's 30 s. */
#define MG_SELECT_MS 5000
/* A server that stops answering mid-operation is given up after this long
 * (libmongoc's own default is 5 minutes), unless the URL or the caller's
 * timeout says otherwise. */
#define MG_SOCKET_MS 60000
/* How long a majority write waits for its acknowledgements (wtimeout). */
#define MG_WTIMEOUT_MS 10000

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init(void)
{
	mongoc_init();
	/* libmongoc would write its own warnings to stderr: the callers log ours. */
	mongoc_log_set_handler(NULL, NULL);
}

void mg_init_once(void)
{
	pthread_once(&init_once, init);
}

const char *mg_url_problem(const char *url)
{
	mongoc_uri_t *uri;
	bson_error_t err;
	const char *problem = NULL;

	mg_init_once();
	uri = mongoc_uri_new_with_error(url, &err);
	if (!uri)
		return "not a MongoDB URL (expected mongodb://host[:port]/database[?options])";
	if (!mongoc_uri_get_database(uri) || !mongoc_uri_get_database(uri)[0])
		problem = "a MongoDB URL names its database (mongodb://host/ceilometer)";
	mongoc_uri_destroy(uri);
	return problem;
}

int mg_connect(struct mg *c, const char *url, struct tl_buf *why)
{
	const mongoc_write_concern_t *uwc;
	mongoc_write_concern_t *wc = NULL;
	mongoc_uri_t *uri;
	bson_error_t err;
	const char *dbname;
	int r = 0;

	mg_init_once();
	uri = mongoc_uri_new_with_error(url, &err);
	if (!uri) {
		/* err names the option, never the password */
		if (why)
			tl_buf_puts(why, "not a MongoDB URL");
		return -EINVAL;
	}
	dbname = mongoc_uri_get_database(uri);
	if (!dbname || !dbname[0]) {
		if (why)
			tl_buf_puts(why, mg_url_problem(url));
		r = -EINVAL;
		goto out;
	}
	if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
		mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS,
					       c->opt.timeout_ms ? (int32_t)c->opt.timeout_ms
								 : MG_SELECT_MS);
	if (!mongoc_uri_has_option(uri, MONGOC_URI_SOCKETTIMEOUTMS))
		mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS,
					       c->opt.timeout_ms ? (int32_t)c->opt.timeout_ms
								 : MG_SOCKET_MS);
	uwc = mongoc_uri_get_write_concern(uri);
	if (mongoc_write_concern_get_w(uwc) == MONGOC_WRITE_CONCERN_W_DEFAULT &&
	    !mongoc_write_concern_get_wmajority(uwc)) {
		wc = mongoc_write_concern_new();
		if (mongoc_uri_get_replica_set(uri)) {
			mongoc_write_concern_set_wmajority(
				wc, mongoc_write_concern_get_wtimeout_int64(uwc)
					    ? (int32_t)mongoc_write_concern_get_wtimeout_int64(uwc)
					    : MG_WTIMEOUT_MS);
		} else {
			mongoc_write_concern_set_w(wc, 1);
		}
	}
	c->client = mongoc_client_new_from_uri(uri);
	if (!c->client) {
		if (why)
			tl_buf_puts(why, "the MongoDB URL cannot be used");
		r = -EINVAL;
		goto out;
	}
	mongoc_client_set_appname(c->client, "tally");
	mongoc_client_set_error_api(c->client, MONGOC_ERROR_API_VERSION_2);
	if (wc)
		mongoc_client_set_write_concern(c->client, wc);
	c->db = mongoc_client_get_database(c->client, dbname);
	c->meter = mongoc_client_get_collection(c->client, dbname, "meter");
	c->resource = mongoc_client_get_collection(c->client, dbname, "resource");
	c->event = mongoc_client_get_collection(c->client, dbname, "event");
	c->schema = mongoc_client_get_collection(c->client, dbname, "tally_schema");
	if (!c->db || !c->meter || !c->resource || !c->event || !c->schema)
		r = -ENOMEM;
out:
	mongoc_write_concern_destroy(wc);
	mongoc_uri_destroy(uri);
	return r;
}

bool mg_code_transient(int64_t code)
{
	switch (code) {
	case 6:	    /* HostUnreachable */
	case 7:	    /* HostNotFound */
	case 50:    /* MaxTimeMSExpired */
	case 64:    /* WriteConcernFailed (wtimeout) */
	case 89:    /* NetworkTimeout */
	case 91:    /* ShutdownInProgress */
	case 112:   /* WriteConflict */
	case 189:   /* PrimarySteppedDown */
	case 262:   /* ExceededTimeLimit */
	case 9001:  /* SocketException */
	case 10107: /* NotWritablePrimary */
	case 11600: /* InterruptedAtShutdown */
	case 11602: /* InterruptedDueToReplStateChange */
	case 13435: /* NotPrimaryNoSecondaryOk */
	case 13436: /* NotPrimaryOrSecondary */
		return true;
	default:
		return false;
	}
}

int mg_err(const bson_error_t *e, const char *what, struct tl_buf *why)
{
	int r = -EIO;

	switch (e->domain) {
	case MONGOC_ERROR_STREAM:
	case MONGOC_ERROR_SERVER_SELECTION:
	case MONGOC_ERROR_PROTOCOL:
	case MONGOC_ERROR_WRITE_CONCERN:
		r = -EAGAIN;
		break;
	case MONGOC_ERROR_CLIENT:
		/* a reply libmongoc could not read is a protocol failure too */
		r = e->code == MONGOC_ERROR_CLIENT_AUTHENTICATE ? -EIO : -EAGAIN;
		break;
	case MONGOC_ERROR_BSON:
		r = -EAGAIN;
		break;
	default:
		r = mg_code_transient(e->code) ? -EAGAIN : -EIO;
		break;
	}
	if (why && why->len == 0)
		tl_buf_printf(why, "%s: %s", what, e->message);
	return r;
}

int mg_command(struct mg *c, const bson_t *cmd, bson_t *reply, const char *what, struct tl_buf *why)
{
	bson_t local;
	bson_error_t err;
	bool ok;

	ok = mongoc_database_write_command_with_opts(c->db, cmd, NULL, reply ? reply : &local,
						     &err);
	if (!reply)
		bson_destroy(&local);
	return ok ? 0 : mg_err(&err, what, why);
}
