/*
 * dthread.c — what a dispatch thread and the control functions that talk to
 * it both use (collector_int.h): the kick that wakes it, and the item
 * arrays of a batch. collector.c (the thread) and the control files call
 * here; nothing here calls them.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>

#include "collector/collector_int.h"

void tl_dthread_kick(struct dthread *t)
{
	pthread_mutex_lock(&t->mu);
	t->kick++;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
	/* Out of tl_buffer_wait() too (the others just wait again). */
	tl_buffer_wakeup(t->c->buffer);
}

int tl_dthread_batch_items(struct dthread *t, const struct tl_record_batch *rb,
			   struct tl_dispatch_batch *out)
{
	size_t i;

	if (tl_array_grow((void **)&t->sp, &t->cap_sp, rb->n_samples, sizeof(*t->sp)) < 0 ||
	    tl_array_grow((void **)&t->ep, &t->cap_ep, rb->n_events, sizeof(*t->ep)) < 0)
		return -ENOMEM;
	for (i = 0; i < rb->n_samples; i++)
		t->sp[i] = &rb->samples[i];
	for (i = 0; i < rb->n_events; i++)
		t->ep[i] = &rb->events[i];
	out->samples = t->sp;
	out->n_samples = rb->n_samples;
	out->events = t->ep;
	out->n_events = rb->n_events;
	return 0;
}
