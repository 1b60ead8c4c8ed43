/*
 * decode.h — turning what ceilometer sends into samples and events.
 *
 * Accepted forms (docs/compatibility.md §1):
 *  - AMQP/JSON: the oslo envelope 2.0 {"oslo.version", "oslo.message": "<JSON>"}
 *    or the bare 1.0 dict; inside, a notification whose payload is a list of
 *    sample or event dicts, or {"samples": [...]} (telemetry.polling and
 *    telemetry.api), or an RPC cast {"method": "record_metering_data",
 *    "args": {"data": [...]}}; also, for the HTTP input, a bare list of items
 *    or a single sample or event dict.
 *  - UDP: one msgpack-encoded sample dict, with any of msgpack's str, raw and
 *    bin string encodings.
 *
 * Invariants: nothing from outside is trusted. The body size is checked before
 * parsing, nesting depth is checked before any tree is built, every string is
 * valid UTF-8 without NUL, every field has its type and length checked. No
 * input makes the decoder crash, loop or allocate more than a small multiple
 * of the body size.
 *
 * Granularity: a message whose envelope cannot be understood is rejected
 * whole (the call returns an error). Otherwise each item stands alone: good
 * items are returned, bad ones (wrong field, bad signature...) are returned
 * as rejects with their own reason, so one bad sample never holds back the
 * others in its message.
 *
 * Thread safety: a decoder belongs to one thread; the signer it uses may be
 * shared.
 */
#ifndef TL_COMMON_DECODE_H
#define TL_COMMON_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/event.h"
#include "common/json.h"
#include "common/sample.h"
#include "common/signature.h"

/* Why a message or an item was rejected. Stable: used as counter names. */
enum tl_decode_err {
	TL_DECODE_OK = 0,
	TL_DECODE_TOO_LARGE,	  /* body above max_message_size */
	TL_DECODE_TOO_DEEP,	  /* nesting above max_depth */
	TL_DECODE_TOO_MANY_ITEMS, /* more items (or traits) than max_items */
	TL_DECODE_EMPTY,	  /* empty body */
	TL_DECODE_TRUNCATED,	  /* JSON or msgpack ends early */
	TL_DECODE_SYNTAX,	  /* not JSON / not msgpack, or trailing data */
	TL_DECODE_NOT_UTF8,	  /* a string is not valid UTF-8 */
	TL_DECODE_BAD_ENVELOPE,	  /* oslo envelope with a wrong version or message */
	TL_DECODE_UNKNOWN_FORMAT, /* valid JSON, but no form ceilometer sends */
	TL_DECODE_MISSING_FIELD,  /* a required field is absent */
	TL_DECODE_WRONG_TYPE,	  /* a field has the wrong JSON type */
	TL_DECODE_FIELD_TOO_LONG, /* a string field above its cap */
	TL_DECODE_BAD_COUNTER_TYPE,
	TL_DECODE_BAD_TIMESTAMP,
	TL_DECODE_BAD_VALUE, /* a number out of range, NaN, a NUL in a string */
	TL_DECODE_BAD_TRAIT,
	TL_DECODE_BAD_SIGNATURE,
	TL_DECODE_NERRORS
};

/* A short stable name ("too_large", "bad_signature"...). */
const char *tl_decode_err_name(enum tl_decode_err e);

struct tl_decode_limits {
	size_t max_message_size; /* bytes of a body (and of an inner oslo.message) */
	unsigned max_depth;	 /* nesting of arrays and objects, the envelope included */
	size_t max_items;	 /* samples or events per message, traits per event */
};

/* The defaults: 1 MiB, 64, 10000. */
#define TL_DECODE_LIMITS_DEFAULT       \
	{                              \
		1024 * 1024, 64, 10000 \
	}

/* One rejected item, or the whole message. */
struct tl_reject {
	enum tl_decode_err code;
	size_t index; /* position of the item in its message's list (0 for a whole message) */
	char *reason; /* owned, e.g. "counter_volume: expected a number, got string"; NULL
		       * beyond tl_decoded.max_details */
	char *raw; /* owned compact JSON of the item; NULL for a whole message (the caller has the
		      body) */
	size_t raw_len;
};

/* The forms a message can come in. */
enum tl_msg_form {
	TL_FORM_NONE = 0,
	TL_FORM_NOTIFICATION, /* payload list */
	TL_FORM_POLLING,      /* payload {"samples": [...]} (telemetry.polling, telemetry.api) */
	TL_FORM_RPC,	      /* record_metering_data cast */
	TL_FORM_LIST,	      /* a bare list of items */
	TL_FORM_SINGLE,	      /* a bare sample or event dict (UDP, HTTP) */
};

/*
 * What one message decoded to. The samples and events point into memory the
 * struct owns (a copy of the body, the parsed documents), so they are valid
 * until the next decode into it, tl_decoded_reset() or tl_decoded_fini().
 * Reuse one struct across messages: resetting keeps all the memory, so a
 * steady stream of messages allocates nothing.
 */
struct tl_decoded {
	enum tl_msg_form form;
	bool enveloped; /* came in an oslo 2.0 envelope */
	/* The notification's publisher_id ("telemetry.publisher.HOST"), NULL
	 * when absent, not a string or longer than TL_SAMPLE_MAX_NAME bytes; as
	 * valid as the samples. Not covered by the samples' signatures. */
	const char *publisher_id;
	struct tl_sample *samples; /* n_samples valid entries */
	size_t n_samples, cap_samples;
	struct tl_event *events;
	size_t n_events, cap_events;
	struct tl_reject *rejects;
	size_t n_rejects, cap_rejects;
	/*
	 * Set by the caller (kept across decodes; 0: all): how many rejects get
	 * their reason and raw JSON. The others have only their code and index
	 * (reason and raw NULL), so that a message of many bad items costs its
	 * parsing, not an allocation and a serialization per item.
	 */
	size_t max_details;
	/* Private: the body's copy, parsed in place, and the documents. */
	struct tl_buf text;
	struct tl_json_doc outer, inner;
	struct tl_buf raw;
};

void tl_decoded_init(struct tl_decoded *d);
/* Releases the items and rejects, keeps the memory. */
void tl_decoded_reset(struct tl_decoded *d);
/* Releases everything. NULL is accepted. */
void tl_decoded_fini(struct tl_decoded *d);

struct tl_decoder {
	struct tl_decode_limits limits;
	const struct tl_signer *signer; /* borrowed; NULL = do not verify */
	struct tl_buf scratch;
	enum tl_sig_variant sig_hint; /* the variant that matched last */
};

/*
 * Prepares a decoder. signer (borrowed, may be NULL or have an empty secret:
 * no verification) must outlive the decoder. Returns 0.
 */
int tl_decoder_init(struct tl_decoder *d, const struct tl_decode_limits *limits,
		    const struct tl_signer *signer);
void tl_decoder_fini(struct tl_decoder *d);

/*
 * Decodes a JSON body (AMQP message, HTTP request) into out, which must have
 * been initialized; previous content is reset first. Returns 0 when the
 * message was understood (its items may still all be rejects), or a negative
 * errno (-EMSGSIZE for too large, -EBADMSG otherwise, -ENOMEM) with exactly one
 * reject describing why the whole message was refused.
 */
int tl_decode_json(struct tl_decoder *d, const void *body, size_t len, struct tl_decoded *out);

/*
 * For an OpenStack service's notification (collector.notifications): parses
 * the body and takes off its oslo envelope, either version, as
 * tl_decode_json() does, and returns the notification dict in *msg (valid
 * as decoded items are; out->publisher_id is set). Nothing else is decoded:
 * the notification is for the meter and event definitions. Same contract
 * as tl_decode_json(); also refused: a message that is not a dict or has no
 * string event_type.
 */
int tl_decode_notification(struct tl_decoder *d, const void *body, size_t len,
			   struct tl_decoded *out, const struct tl_json **msg);

/* Decodes one msgpack datagram (UDP) holding one sample dict. Same contract. */
int tl_decode_msgpack(struct tl_decoder *d, const void *data, size_t len, struct tl_decoded *out);

#endif
