/*
 * One frame's writes to every WebSocket viewer, spread over threads.
 *
 * A keyframe fanned out to 1,200 viewers is 1,200 sendmsg(2) calls, and on
 * loopback or a fast NIC most of their cost is the kernel's TCP send path,
 * run in the caller's thread: about 30 ms of one core for a 62 KB keyframe,
 * during which the event loop reads no ingest and the last viewers wait.
 * The calls are independent (one socket each), so helper threads take a
 * share of them while the event loop's thread takes the rest, and the call
 * returns once all are done: to JavaScript it is still one synchronous
 * write per viewer, with each viewer's byte count to settle as before.
 *
 * Helpers only see descriptors and raw pointers copied out of the
 * arguments before they start; every N-API call stays on the caller's
 * thread, and the buffers outlive the call because the caller holds them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <node_api.h>
#include "../common/napi-check.h"
#include "send_many.h"

#define MAX_HELPERS 7
/* Below this many viewers a handoff costs more than it saves. */
#define PARALLEL_FROM 32
/* Viewers a thread claims at a time: small enough to even out a helper that is descheduled. */
#define CLAIM 8

struct job {
  const int32_t *fds;
  const uint32_t *first; /* index of each entry's first chunk in `order` */
  const uint32_t *counts;
  const uint32_t *order; /* chunk table indices, entry after entry */
  const struct iovec *chunks;
  double *results;
  uint32_t n;
  atomic_uint next;
};

static struct {
  pthread_mutex_t lock;
  pthread_cond_t start;
  pthread_cond_t done;
  pthread_t threads[MAX_HELPERS];
  int running;   /* helpers started */
  int wanted;    /* helpers asked for */
  unsigned generation;
  int busy;      /* helpers still working on the current generation */
  int helped;    /* helpers that sent for the current generation */
  struct job *job;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0, 0, 0, 0, 0, NULL};

static void send_entry(const struct job *j, uint32_t i) {
  int fd = j->fds[i];
  uint32_t count = j->counts[i];
  if (fd < 0 || count == 0) {
    j->results[i] = fd < 0 ? -(double)EBADF : 0;
    return;
  }
  if (count > MAX_CHUNKS) count = MAX_CHUNKS;
  struct iovec iov[MAX_CHUNKS];
  for (uint32_t k = 0; k < count; k++) iov[k] = j->chunks[j->order[j->first[i] + k]];
  j->results[i] = send_gather(fd, iov, count);
}

/* Sends entries until none is left; returns 1 if this thread sent any. */
static int work(struct job *j) {
  int any = 0;
  for (;;) {
    uint32_t from = atomic_fetch_add_explicit(&j->next, CLAIM, memory_order_relaxed);
    if (from >= j->n) return any;
    uint32_t to = from + CLAIM < j->n ? from + CLAIM : j->n;
    for (uint32_t i = from; i < to; i++) send_entry(j, i);
    any = 1;
  }
}

static void *helper(void *arg) {
  (void)arg;
  unsigned seen = 0;
  pthread_mutex_lock(&pool.lock);
  for (;;) {
    while (pool.generation == seen) pthread_cond_wait(&pool.start, &pool.lock);
    seen = pool.generation;
    struct job *j = pool.job;
    pthread_mutex_unlock(&pool.lock);
    int sent = work(j);
    pthread_mutex_lock(&pool.lock);
    pool.helped += sent;
    if (--pool.busy == 0) pthread_cond_signal(&pool.done);
  }
  return NULL;
}

/* Starts helpers up to `wanted`; returns how many run (fewer if the system refused one). */
static int ensure_helpers(void) {
  if (pool.wanted == 0) return 0;
  while (pool.running < pool.wanted) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int failed = pthread_create(&pool.threads[pool.running], &attr, helper, NULL);
    pthread_attr_destroy(&attr);
    if (failed) {
      pool.wanted = pool.running;
      break;
    }
    pthread_detach(pool.threads[pool.running]);
    pool.running++;
  }
  return pool.running;
}

/* One caller at a time: each worker thread of Node that loads the addon could call in. */
static pthread_mutex_t callers = PTHREAD_MUTEX_INITIALIZER;

/* Returns how many threads sent (the caller's included). */
static int run(struct job *j) {
  pthread_mutex_lock(&callers);
  int helpers = j->n >= PARALLEL_FROM ? ensure_helpers() : 0;
  if (helpers == 0) {
    int sent = work(j);
    pthread_mutex_unlock(&callers);
    return sent;
  }
  pthread_mutex_lock(&pool.lock);
  pool.job = j;
  pool.busy = helpers;
  pool.helped = 0;
  pool.generation++;
  pthread_cond_broadcast(&pool.start);
  pthread_mutex_unlock(&pool.lock);
  int sent = work(j);
  pthread_mutex_lock(&pool.lock);
  while (pool.busy > 0) pthread_cond_wait(&pool.done, &pool.lock);
  pool.job = NULL;
  sent += pool.helped;
  pthread_mutex_unlock(&pool.lock);
  pthread_mutex_unlock(&callers);
  return sent;
}

static int typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *length) {
  bool is_typed = false;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed) return 0;
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, length, data, &buffer, &offset) != napi_ok) return 0;
  return type == want;
}

/*
 * sendMany(fds: Int32Array, first: Uint32Array, counts: Uint32Array,
 *          order: Uint32Array, chunks: Uint8Array[], n: number,
 *          results: Float64Array): number
 * Entry i writes chunks[order[first[i] + k]] for k < counts[i] to fds[i]
 * in one non-blocking sendmsg; results[i] is the bytes the kernel took
 * (0 when its buffer was full), or -errno (-EBADF for a descriptor < 0).
 * Returns how many threads took part, the caller's included.
 */
napi_value send_many(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *fds, *first, *counts, *order, *results;
  size_t nfds, nfirst, ncounts, norder, nresults;
  uint32_t n = 0;
  if (argc < 7 || !typed(env, argv[0], napi_int32_array, &fds, &nfds) || !typed(env, argv[1], napi_uint32_array, &first, &nfirst) ||
      !typed(env, argv[2], napi_uint32_array, &counts, &ncounts) || !typed(env, argv[3], napi_uint32_array, &order, &norder) ||
      napi_get_value_uint32(env, argv[5], &n) != napi_ok || !typed(env, argv[6], napi_float64_array, &results, &nresults) ||
      n > nfds || n > nfirst || n > ncounts || n > nresults) {
    napi_throw_type_error(env, NULL, "sendMany(fds, first, counts, order, chunks, n, results): bad arguments");
    return NULL;
  }
  uint32_t nchunks = 0;
  bool is_array = false;
  CHECK(napi_is_array(env, argv[4], &is_array));
  if (!is_array) {
    napi_throw_type_error(env, NULL, "sendMany: chunks must be an array of Uint8Arrays");
    return NULL;
  }
  CHECK(napi_get_array_length(env, argv[4], &nchunks));
  /* Every chunk index an entry names must exist, and every entry's range must lie in `order`: checked here, not by the helpers. */
  for (uint32_t i = 0; i < n; i++) {
    uint32_t c = ((uint32_t *)counts)[i] > MAX_CHUNKS ? MAX_CHUNKS : ((uint32_t *)counts)[i];
    uint64_t end = (uint64_t)((uint32_t *)first)[i] + c;
    if (end > norder) {
      napi_throw_range_error(env, NULL, "sendMany: an entry's chunks run past `order`");
      return NULL;
    }
    for (uint64_t k = ((uint32_t *)first)[i]; k < end; k++)
      if (((uint32_t *)order)[k] >= nchunks) {
        napi_throw_range_error(env, NULL, "sendMany: an entry names a chunk that is not there");
        return NULL;
      }
  }
  struct iovec *table = nchunks ? malloc(sizeof(struct iovec) * nchunks) : NULL;
  if (nchunks && !table) {
    napi_throw_error(env, NULL, "sendMany: out of memory");
    return NULL;
  }
  for (uint32_t c = 0; c < nchunks; c++) {
    napi_value el;
    void *data;
    size_t length;
    if (napi_get_element(env, argv[4], c, &el) != napi_ok || !typed(env, el, napi_uint8_array, &data, &length)) {
      free(table);
      napi_throw_type_error(env, NULL, "sendMany: chunks must be Uint8Arrays");
      return NULL;
    }
    table[c].iov_base = data;
    table[c].iov_len = length;
  }
  struct job j = {fds, first, counts, order, table, results, n, 0};
  atomic_init(&j.next, 0);
  int threads = run(&j);
  free(table);
  napi_value out;
  CHECK(napi_create_int32(env, threads, &out));
  return out;
}

/* sendThreads(helpers: number): how many helper threads `sendMany` may use besides the caller's; returns the number set. */
napi_value send_threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t want = 0;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &want) != napi_ok) {
    napi_throw_type_error(env, NULL, "sendThreads(helpers): a number");
    return NULL;
  }
  if (want < 0) want = 0;
  if (want > MAX_HELPERS) want = MAX_HELPERS;
  /* Helpers once started stay, idle on a condition variable; 0 sends on the caller's thread alone. */
  pthread_mutex_lock(&callers);
  pool.wanted = want;
  pthread_mutex_unlock(&callers);
  napi_value out;
  CHECK(napi_create_int32(env, pool.wanted, &out));
  return out;
}
