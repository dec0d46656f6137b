/*
 * Server-side QUIC connections on ngtcp2 (with GnuTLS for the handshake),
 * shaped like the part of quiche's binding that the WebTransport server
 * uses, with one difference that is the reason this file exists: a flush
 * writes every packet the connection has ready into the caller's batch
 * buffer in one call (writePackets), instead of one N-API crossing, one
 * result array and one SendInfo object per packet. The server hands that
 * batch to native/udp-batch's sendmmsg as before.
 *
 * Stream data handed to ngtcp2 must stay alive until it is acknowledged, so
 * each stream keeps a queue of chunks copied from JavaScript; a chunk is
 * freed once the peer acknowledged all of it. Received stream data is kept
 * per stream until JavaScript reads it, and the flow-control windows are
 * extended only then, so a reader that stops reading stops the peer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <unistd.h>
#include <node_api.h>
#include <uv.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include "../common/address.h"
#include "../common/napi-check.h"
#include "../common/napi-callback.h"

#define MAX_CID 20
#define SECRET_LEN 32
/* Datagrams waiting to be sent, and received ones waiting for JavaScript; more are dropped, as quiche does. */
#define DGRAM_QUEUE 1024
/* Bytes of received datagrams held for JavaScript: a client cannot make a connection hold more before anyone reads them. */
#define DGRAM_IN_BYTES (256 * 1024)
/* How far back a deferred pacing gap is dated: any gap is shorter. */
#define PACING_PAST (10ULL * NGTCP2_SECONDS)
/* Stream data vectors handed to one writev_stream call. */
#define MAX_VECS 16

/* ---- shared server context: certificate, TLS priorities, token secret, transport settings ---- */

typedef struct {
  gnutls_certificate_credentials_t cred;
  gnutls_priority_t priority;
  uint8_t secret[SECRET_LEN];
  uint32_t payload;
  uint64_t idle_timeout_ms;
  uint64_t max_data;
  uint64_t stream_window;
  uint64_t max_streams;
  uint64_t keep_alive_ms;
  uint64_t max_datagram_frame;
  /* A client's context: no certificate of its own, and the peer's is not verified here (its hash is checked by the caller). */
  int client;
  int refs;
} server_ctx_t;

static void ctx_unref(server_ctx_t *c) {
  if (--c->refs > 0) return;
  gnutls_certificate_free_credentials(c->cred);
  gnutls_priority_deinit(c->priority);
  free(c);
}

/* ---- chunks of stream data and datagrams ---- */

/*
 * Bytes many connections send alike (a media frame fanned out to every
 * viewer), copied out of JavaScript once: each stream's chunk holds a
 * reference instead of a copy of its own.
 */
typedef struct {
  size_t refs;
  size_t len;
  uint8_t data[];
} shared_t;

static void shared_unref(shared_t *sh) {
  if (--sh->refs == 0) free(sh);
}

typedef struct chunk {
  struct chunk *next;
  size_t len;
  const uint8_t *data;
  /* Set when `data` lies in a shared payload rather than in `own`. */
  shared_t *shared;
  uint8_t own[];
} chunk_t;

static chunk_t *chunk_new(const uint8_t *data, size_t len) {
  chunk_t *c = malloc(sizeof(chunk_t) + len);
  if (c == NULL) return NULL;
  c->next = NULL;
  c->len = len;
  c->data = c->own;
  c->shared = NULL;
  if (len > 0) memcpy(c->own, data, len);
  return c;
}

/* The first `len` bytes of a shared payload, by reference. */
static chunk_t *chunk_of_shared(shared_t *sh, size_t len) {
  chunk_t *c = malloc(sizeof(chunk_t));
  if (c == NULL) return NULL;
  c->next = NULL;
  c->len = len;
  c->data = sh->data;
  c->shared = sh;
  sh->refs++;
  return c;
}

static void chunk_free(chunk_t *c) {
  if (c == NULL) return;
  if (c->shared != NULL) shared_unref(c->shared);
  free(c);
}

typedef struct {
  chunk_t *head, *tail;
  size_t count;
} queue_t;

static void queue_push(queue_t *q, chunk_t *c) {
  if (q->tail) q->tail->next = c;
  else q->head = c;
  q->tail = c;
  q->count++;
}

static chunk_t *queue_pop(queue_t *q) {
  chunk_t *c = q->head;
  if (c == NULL) return NULL;
  q->head = c->next;
  if (q->head == NULL) q->tail = NULL;
  q->count--;
  return c;
}

static void queue_free(queue_t *q) {
  chunk_t *c;
  while ((c = queue_pop(q)) != NULL) chunk_free(c);
}

/* ---- streams ---- */

typedef struct stream {
  struct stream *next;
  /* The connection's streams with something to send (see sendq_add). */
  struct stream *send_next;
  int in_sendq;
  int64_t id;
  /* Send side: chunks from `acked` onwards; `sent` bytes of them are in packets, `queued` is the end. */
  queue_t out;
  uint64_t out_base; /* stream offset of out.head */
  uint64_t acked;
  uint64_t sent;
  uint64_t queued;
  /* The chunk holding offset `sent`, and its stream offset: where the next packet's data starts, without walking what is in flight. */
  chunk_t *cur;
  uint64_t cur_base;
  int fin_queued, fin_sent, write_shut;
  int stopped;
  uint64_t stop_code;
  int blocked; /* flow control refused it in this flush */
  uint8_t urgency;
  int incremental;
  /* Receive side. */
  queue_t in;
  size_t in_pos; /* bytes of in.head already read */
  int fin_recv, fin_reported, read_shut;
  int reset, reset_reported;
  uint64_t reset_code;
  int closed;
} stream_t;

typedef struct {
  ngtcp2_conn *conn;
  gnutls_session_t tls;
  ngtcp2_crypto_conn_ref ref;
  server_ctx_t *ctx;
  address_t local, remote;
  ngtcp2_path path;
  stream_t *streams;
  /*
   * The streams that may have bytes or a FIN to send: usually one or two of
   * the several a connection keeps, so a packet's choice of stream does not
   * walk (and miss the cache on) every one of them.
   */
  stream_t *sendq;
  /* Bytes queued by JavaScript but not yet in packets, over all streams. */
  uint64_t unsent;
  queue_t dgram_out, dgram_in;
  uint64_t dgram_id;
  size_t dgram_in_bytes;
  /* 0 open, 1 closing (our CONNECTION_CLOSE), 2 draining (the peer's), 3 closed. */
  int state;
  uint64_t close_deadline;
  uint8_t close_pkt[1500];
  size_t close_len;
  int close_pending;
  int close_sends;
  int peer_closed;
  int ids_changed;
  /* Stream input arrived since a scan last found nothing to read: the view's READABLE needs a scan only then. */
  int maybe_readable;
  /* The last burst left nothing queued: its pacing gap is counted at the next write instead of waking us (see write_batch). */
  int pacing_deferred;
  /* What JavaScript reads after each call without crossing back (see update_view). */
  double *view;
  /* A client reading and writing its own socket (attach), or NULL. */
  struct client_io *io;
  /* Its slot in `handles`: what JavaScript names it by in every call. */
  uint32_t handle;
} conn_t;

/* Slots of the Float64Array a connection shares with JavaScript. */
enum { VIEW_STATE, VIEW_ESTABLISHED, VIEW_READABLE, VIEW_IDS, VIEW_DATAGRAMS, VIEW_TIMEOUT, VIEW_HANDLE, VIEW_SLOTS };

/*
 * Every live connection by handle. JavaScript calls the addon's functions
 * with a connection's handle, a number, rather than as methods of its
 * object: finding a wrapped object's pointer (napi_unwrap, a private
 * property lookup) was 3.5 % of the server's time at 200 sessions, for
 * tens of thousands of calls a second. A slot is freed only when the
 * object is collected, and JavaScript keeps the object as long as it uses
 * the handle, so a handle never names another connection.
 */
static conn_t **handles;
static uint32_t handles_len, handles_cap;
static uint32_t *free_handles;
static uint32_t free_len;

static int handle_add(conn_t *c) {
  if (free_len > 0) {
    c->handle = free_handles[--free_len];
  } else {
    if (handles_len == handles_cap) {
      uint32_t cap = handles_cap ? handles_cap * 2 : 256;
      conn_t **grown = realloc(handles, cap * sizeof *handles);
      if (grown == NULL) return -1;
      handles = grown;
      uint32_t *free_grown = realloc(free_handles, cap * sizeof *free_handles);
      if (free_grown == NULL) return -1;
      free_handles = free_grown;
      handles_cap = cap;
    }
    c->handle = handles_len++;
  }
  handles[c->handle] = c;
  return 0;
}

static void handle_remove(conn_t *c) {
  if (c->handle >= handles_len || handles[c->handle] != c) return;
  handles[c->handle] = NULL;
  free_handles[free_len++] = c->handle;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void random_bytes(uint8_t *dest, size_t len) {
  if (gnutls_rnd(GNUTLS_RND_RANDOM, dest, len) != 0) {
    /* gnutls_rnd does not fail once the library is up; getrandom is the fallback all the same. */
    ssize_t n = getrandom(dest, len, 0);
    (void)n;
  }
}

static stream_t *stream_find(conn_t *c, int64_t id) {
  for (stream_t *s = c->streams; s != NULL; s = s->next)
    if (s->id == id) return s;
  return NULL;
}

static stream_t *stream_get(conn_t *c, int64_t id) {
  stream_t *s = stream_find(c, id);
  if (s != NULL) return s;
  s = calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  s->id = id;
  s->urgency = 3; /* RFC 9218's default */
  s->incremental = 1;
  s->next = c->streams;
  c->streams = s;
  return s;
}

static void sendq_add(conn_t *c, stream_t *s) {
  if (s->in_sendq) return;
  s->in_sendq = 1;
  s->send_next = c->sendq;
  c->sendq = s;
}

static void sendq_remove(conn_t *c, stream_t *s) {
  if (!s->in_sendq) return;
  for (stream_t **p = &c->sendq; *p != NULL; p = &(*p)->send_next) {
    if (*p == s) {
      *p = s->send_next;
      break;
    }
  }
  s->in_sendq = 0;
  s->send_next = NULL;
}

static int stream_has_output(const stream_t *s) {
  return !s->write_shut && (s->sent < s->queued || (s->fin_queued && !s->fin_sent));
}

static void stream_drop_output(conn_t *c, stream_t *s) {
  c->unsent -= s->queued - s->sent;
  queue_free(&s->out);
  s->out_base = s->queued;
  s->acked = s->sent = s->queued;
  s->cur = NULL;
  s->cur_base = s->queued;
}

static void stream_free(conn_t *c, stream_t *s) {
  sendq_remove(c, s);
  stream_t **p = &c->streams;
  while (*p != NULL && *p != s) p = &(*p)->next;
  if (*p == s) *p = s->next;
  c->unsent -= s->queued - s->sent;
  queue_free(&s->out);
  queue_free(&s->in);
  free(s);
}

/* A stream ngtcp2 closed goes once JavaScript has nothing left to learn from it. */
static void stream_maybe_free(conn_t *c, stream_t *s) {
  if (!s->closed) return;
  if (s->in.count > 0) return;
  if (s->fin_recv && !s->fin_reported && !s->read_shut) return;
  if (s->reset && !s->reset_reported && !s->read_shut) return;
  stream_free(c, s);
}

/* Drops what the peer sent and nobody read (a reset, or we stopped reading): its credit goes back to the connection. */
static void stream_drop_input(ngtcp2_conn *conn, stream_t *s) {
  size_t dropped = 0;
  for (chunk_t *ch = s->in.head; ch != NULL; ch = ch->next) dropped += ch->len;
  dropped -= s->in_pos;
  queue_free(&s->in);
  s->in_pos = 0;
  if (dropped > 0) ngtcp2_conn_extend_max_offset(conn, dropped);
}

static int stream_readable(const stream_t *s) {
  if (s->read_shut) return 0;
  return s->in.count > 0 || (s->fin_recv && !s->fin_reported) || (s->reset && !s->reset_reported);
}

/* ---- ngtcp2 callbacks ---- */

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref) { return ((conn_t *)ref->user_data)->conn; }

static void cb_rand(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *ctx) {
  (void)ctx;
  random_bytes(dest, len);
}

static int cb_new_cid(ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token, size_t cidlen, void *user) {
  (void)conn;
  conn_t *c = user;
  random_bytes(cid->data, cidlen);
  cid->datalen = cidlen;
  if (ngtcp2_crypto_generate_stateless_reset_token(token, c->ctx->secret, SECRET_LEN, cid) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
  c->ids_changed = 1;
  return 0;
}

static int cb_remove_cid(ngtcp2_conn *conn, const ngtcp2_cid *cid, void *user) {
  (void)conn;
  (void)cid;
  ((conn_t *)user)->ids_changed = 1;
  return 0;
}

static int cb_recv_stream_data(ngtcp2_conn *conn, uint32_t flags, int64_t id, uint64_t offset, const uint8_t *data, size_t len, void *user,
                               void *stream_user) {
  (void)offset;
  (void)stream_user;
  conn_t *c = user;
  stream_t *s = stream_get(c, id);
  if (s == NULL) return NGTCP2_ERR_CALLBACK_FAILURE;
  if (s->read_shut) {
    /* Nobody reads it: give the credit back at once. */
    ngtcp2_conn_extend_max_stream_offset(conn, id, len);
    ngtcp2_conn_extend_max_offset(conn, len);
  } else if (len > 0) {
    chunk_t *ch = chunk_new(data, len);
    if (ch == NULL) return NGTCP2_ERR_CALLBACK_FAILURE;
    queue_push(&s->in, ch);
  }
  if (flags & NGTCP2_STREAM_DATA_FLAG_FIN) s->fin_recv = 1;
  c->maybe_readable = 1;
  return 0;
}

static int cb_acked(ngtcp2_conn *conn, int64_t id, uint64_t offset, uint64_t len, void *user, void *stream_user) {
  (void)conn;
  (void)offset;
  (void)stream_user;
  conn_t *c = user;
  stream_t *s = stream_find(c, id);
  if (s == NULL) return 0;
  s->acked += len;
  /* ngtcp2 reports acknowledgements in order: free every chunk wholly below the acknowledged offset. */
  while (s->out.head != NULL && s->out_base + s->out.head->len <= s->acked) {
    chunk_t *ch = queue_pop(&s->out);
    s->out_base += ch->len;
    chunk_free(ch);
  }
  return 0;
}

static int cb_stream_close(ngtcp2_conn *conn, uint32_t flags, int64_t id, uint64_t code, void *user, void *stream_user) {
  (void)flags;
  (void)code;
  (void)stream_user;
  conn_t *c = user;
  /* Let the client open another in place of a stream of its own that ended (quiche does this by itself). */
  if (!ngtcp2_conn_is_local_stream(conn, id)) {
    if ((id & 2) == 0) ngtcp2_conn_extend_max_streams_bidi(conn, 1);
    else ngtcp2_conn_extend_max_streams_uni(conn, 1);
  }
  stream_t *s = stream_find(c, id);
  if (s == NULL) return 0;
  s->closed = 1;
  stream_drop_output(c, s);
  stream_maybe_free(c, s);
  return 0;
}

static int cb_stream_reset(ngtcp2_conn *conn, int64_t id, uint64_t final_size, uint64_t code, void *user, void *stream_user) {
  (void)final_size;
  (void)stream_user;
  conn_t *c = user;
  stream_t *s = stream_get(c, id);
  if (s == NULL) return NGTCP2_ERR_CALLBACK_FAILURE;
  /* Data not yet read is gone with the reset. */
  stream_drop_input(conn, s);
  s->reset = 1;
  s->reset_code = code;
  c->maybe_readable = 1;
  return 0;
}

static int cb_stop_sending(ngtcp2_conn *conn, int64_t id, uint64_t code, void *user, void *stream_user) {
  (void)conn;
  (void)stream_user;
  conn_t *c = user;
  stream_t *s = stream_get(c, id);
  if (s == NULL) return NGTCP2_ERR_CALLBACK_FAILURE;
  s->stopped = 1;
  s->stop_code = code;
  return 0;
}

static int cb_recv_datagram(ngtcp2_conn *conn, uint32_t flags, const uint8_t *data, size_t len, void *user) {
  (void)conn;
  (void)flags;
  conn_t *c = user;
  if (c->dgram_in.count >= DGRAM_QUEUE || c->dgram_in_bytes + len > DGRAM_IN_BYTES) return 0;
  chunk_t *ch = chunk_new(data, len);
  if (ch == NULL) return NGTCP2_ERR_CALLBACK_FAILURE;
  queue_push(&c->dgram_in, ch);
  c->dgram_in_bytes += len;
  return 0;
}

/* ---- connection lifetime ---- */

static void client_detach(conn_t *c);

static void conn_destroy(conn_t *c) {
  if (c == NULL) return;
  client_detach(c);
  while (c->streams != NULL) stream_free(c, c->streams);
  queue_free(&c->dgram_out);
  queue_free(&c->dgram_in);
  if (c->conn) ngtcp2_conn_del(c->conn);
  if (c->tls) gnutls_deinit(c->tls);
  if (c->ctx) ctx_unref(c->ctx);
  c->conn = NULL;
  c->tls = NULL;
  c->ctx = NULL;
}

static void finalize_conn(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  handle_remove(data);
  conn_destroy(data);
  free(data);
}

/* Enters the closing period with `ccerr`; the CONNECTION_CLOSE leaves with the next writePackets. */
static void conn_close_with(conn_t *c, const ngtcp2_connection_close_error *ccerr) {
  if (c->state != 0) return;
  uint64_t ts = now_ns();
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_pkt_info pi;
  ngtcp2_ssize n = ngtcp2_conn_write_connection_close(c->conn, &ps.path, &pi, c->close_pkt, c->ctx->payload, ccerr, ts);
  c->state = 1;
  c->close_deadline = ts + 3 * ngtcp2_conn_get_pto(c->conn);
  if (n > 0) {
    c->close_len = (size_t)n;
    c->close_pending = 1;
  } else {
    /* Nothing can be sent (no keys yet): the connection just goes. */
    c->state = 3;
  }
}

static void conn_fail(conn_t *c, int liberr) {
  ngtcp2_connection_close_error ccerr;
  ngtcp2_connection_close_error_default(&ccerr);
  if (liberr == NGTCP2_ERR_CRYPTO)
    ngtcp2_connection_close_error_set_transport_error_tls_alert(&ccerr, ngtcp2_conn_get_tls_alert(c->conn), NULL, 0);
  else
    ngtcp2_connection_close_error_set_transport_error_liberr(&ccerr, liberr, NULL, 0);
  conn_close_with(c, &ccerr);
}

/* After read_pkt or handle_expiry: what an error code means for the connection. */
static void conn_after_error(conn_t *c, int rv) {
  switch (rv) {
    case 0:
      return;
    case NGTCP2_ERR_DRAINING:
      if (c->state == 0) {
        c->state = 2;
        c->peer_closed = 1;
        c->close_deadline = now_ns() + 3 * ngtcp2_conn_get_pto(c->conn);
      }
      return;
    case NGTCP2_ERR_IDLE_CLOSE:
    case NGTCP2_ERR_DROP_CONN:
    case NGTCP2_ERR_HANDSHAKE_TIMEOUT:
      c->state = 3;
      return;
    case NGTCP2_ERR_RETRY:
    case NGTCP2_ERR_DISCARD_PKT:
    case NGTCP2_ERR_DECRYPT:
      return;
    default:
      conn_fail(c, rv);
  }
}

static uint64_t expiry_of(conn_t *c) {
  if (c->state == 3) return UINT64_MAX;
  return c->state == 0 ? ngtcp2_conn_get_expiry(c->conn) : c->close_deadline;
}

/* Refreshes what JavaScript reads without a call: run at the end of every call that changes it. */
static void update_view(conn_t *c) {
  double *v = c->view;
  v[VIEW_STATE] = c->state;
  v[VIEW_ESTABLISHED] = ngtcp2_conn_get_handshake_completed(c->conn) ? 1 : 0;
  int readable = 0;
  if (c->maybe_readable) {
    for (stream_t *s = c->streams; s != NULL && !readable; s = s->next) readable = stream_readable(s);
    c->maybe_readable = readable;
  }
  v[VIEW_READABLE] = readable;
  v[VIEW_IDS] = c->ids_changed;
  v[VIEW_DATAGRAMS] = (double)c->dgram_in.count;
  uint64_t at = expiry_of(c), now = now_ns();
  v[VIEW_TIMEOUT] = at == UINT64_MAX ? -1 : at <= now ? 0 : (double)((at - now + 999999) / 1000000);
  v[VIEW_HANDLE] = c->handle;
}

/* ---- napi helpers ---- */

/* The connection of the call in progress, for the view refresh after it (calls never nest: one JavaScript thread). */
static conn_t *current;

/* The most arguments any function takes after the handle. */
#define MAX_ARGS 8

/* The connection named by the call's first argument (its handle); the caller's argc and argv get the arguments after it. */
static conn_t *this_conn(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  size_t want = argv == NULL ? 0 : *argc;
  if (want > MAX_ARGS) want = MAX_ARGS;
  napi_value all[MAX_ARGS + 1];
  size_t n = want + 1;
  if (napi_get_cb_info(env, info, &n, all, NULL, NULL) != napi_ok) return NULL;
  uint32_t h = UINT32_MAX;
  if (n < 1 || napi_get_value_uint32(env, all[0], &h) != napi_ok) {
    napi_throw_type_error(env, NULL, "the first argument must be a connection's handle");
    return NULL;
  }
  conn_t *c = h < handles_len ? handles[h] : NULL;
  if (c == NULL || c->conn == NULL) {
    napi_throw_error(env, NULL, "connection is destroyed");
    return NULL;
  }
  if (argv != NULL) {
    *argc = n - 1;
    for (size_t i = 0; i < want; i++) argv[i] = all[i + 1];
  }
  current = c;
  return c;
}

static napi_value js_null(napi_env env) {
  napi_value v;
  napi_get_null(env, &v);
  return v;
}

static napi_value js_undefined(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

static napi_value js_number(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

static napi_value js_bool(napi_env env, int b) {
  napi_value v;
  napi_get_boolean(env, b != 0, &v);
  return v;
}

static int get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  void *d;
  if (napi_get_typedarray_info(env, v, &type, len, &d, &ab, &off) != napi_ok || type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "expected a Uint8Array");
    return -1;
  }
  *data = d;
  return 0;
}

static int64_t get_i64(napi_env env, napi_value v) {
  int64_t x = 0;
  napi_get_value_int64(env, v, &x);
  return x;
}

static void throw_code(napi_env env, const char *what, uint64_t code) {
  char msg[64];
  snprintf(msg, sizeof msg, "%s(%llu)", what, (unsigned long long)code);
  napi_throw_error(env, NULL, msg);
}

/* ---- createContext(cert, key, options) ---- */

static void finalize_ctx(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  ctx_unref(data);
}

static uint64_t opt_u64(napi_env env, napi_value obj, const char *name, uint64_t dflt) {
  napi_value v;
  bool has = false;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has) return dflt;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok) return dflt;
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || d < 0) return dflt;
  return (uint64_t)d;
}

static napi_value create_context(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char *pem[2] = {NULL, NULL};
  size_t lens[2] = {0, 0};
  /* No certificate and key: a client's context. */
  napi_valuetype certType;
  CHECK(napi_typeof(env, argv[0], &certType));
  int client = certType == napi_null || certType == napi_undefined;
  for (int i = 0; i < 2 && !client; i++) {
    CHECK(napi_get_value_string_utf8(env, argv[i], NULL, 0, &lens[i]));
    pem[i] = malloc(lens[i] + 1);
    CHECK(napi_get_value_string_utf8(env, argv[i], pem[i], lens[i] + 1, &lens[i]));
  }
  server_ctx_t *c = calloc(1, sizeof *c);
  c->client = client;
  c->refs = 1;
  random_bytes(c->secret, SECRET_LEN);
  c->payload = (uint32_t)opt_u64(env, argv[2], "maxUdpPayloadSize", 1350);
  c->idle_timeout_ms = opt_u64(env, argv[2], "idleTimeoutMs", 30000);
  c->max_data = opt_u64(env, argv[2], "initialMaxData", 16 * 1024 * 1024);
  c->stream_window = opt_u64(env, argv[2], "initialMaxStreamData", 2 * 1024 * 1024);
  c->max_streams = opt_u64(env, argv[2], "initialMaxStreams", 100);
  c->keep_alive_ms = opt_u64(env, argv[2], "keepAliveMs", 0);
  c->max_datagram_frame = opt_u64(env, argv[2], "maxDatagramFrameSize", 65535);
  gnutls_datum_t cert = {(unsigned char *)pem[0], (unsigned)lens[0]};
  gnutls_datum_t key = {(unsigned char *)pem[1], (unsigned)lens[1]};
  int rv = gnutls_certificate_allocate_credentials(&c->cred);
  if (rv == 0 && !client) rv = gnutls_certificate_set_x509_key_mem2(c->cred, &cert, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
  free(pem[0]);
  free(pem[1]);
  if (rv < 0) {
    if (c->cred) gnutls_certificate_free_credentials(c->cred);
    free(c);
    char msg[160];
    snprintf(msg, sizeof msg, "certificate or key not usable: %s", gnutls_strerror(rv));
    napi_throw_error(env, NULL, msg);
    return NULL;
  }
  /* TLS 1.3 only (RFC 9001 §4.2), its AEADs, no middlebox compatibility mode (RFC 9001 §8.4). */
  const char *prio =
      "%DISABLE_TLS13_COMPAT_MODE:NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-CCM:"
      "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-SECP521R1";
  rv = gnutls_priority_init2(&c->priority, prio, NULL, 0);
  if (rv < 0) {
    gnutls_certificate_free_credentials(c->cred);
    free(c);
    napi_throw_error(env, NULL, gnutls_strerror(rv));
    return NULL;
  }
  napi_value out;
  CHECK(napi_create_external(env, c, finalize_ctx, NULL, &out));
  return out;
}

/* ---- new Connection(ctx, initialPacket, scid, odcid | null, local, remote, view: Float64Array); a client context: (ctx, null, scid, dcid, local, remote, view) ---- */

static napi_ref conn_class;

static napi_value conn_new(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7], self;
  CHECK(napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  napi_typedarray_type vtype;
  size_t vlen, voff;
  void *vdata;
  napi_value vab;
  if (argc < 7 || napi_get_typedarray_info(env, argv[6], &vtype, &vlen, &vdata, &vab, &voff) != napi_ok || vtype != napi_float64_array ||
      vlen < VIEW_SLOTS) {
    napi_throw_type_error(env, NULL, "the last argument must be a Float64Array of the connection's state");
    return NULL;
  }
  server_ctx_t *ctx;
  CHECK(napi_get_value_external(env, argv[0], (void **)&ctx));
  uint8_t *pkt = NULL, *scid_b, *odcid_b = NULL;
  size_t pkt_len = 0, scid_len, odcid_len = 0;
  napi_valuetype t;
  if (ctx->client) {
    /* A client: no Initial to answer; the fourth argument is the server's connection id we start with. */
    if (get_bytes(env, argv[2], &scid_b, &scid_len) || get_bytes(env, argv[3], &odcid_b, &odcid_len)) return NULL;
  } else {
    if (get_bytes(env, argv[1], &pkt, &pkt_len) || get_bytes(env, argv[2], &scid_b, &scid_len)) return NULL;
    CHECK(napi_typeof(env, argv[3], &t));
    if (t != napi_null && t != napi_undefined && get_bytes(env, argv[3], &odcid_b, &odcid_len)) return NULL;
  }
  address_t *local, *remote;
  size_t llen, rlen;
  CHECK(napi_get_buffer_info(env, argv[4], (void **)&local, &llen));
  CHECK(napi_get_buffer_info(env, argv[5], (void **)&remote, &rlen));
  if (llen != sizeof(address_t) || rlen != sizeof(address_t) || scid_len > MAX_CID || odcid_len > MAX_CID) {
    napi_throw_type_error(env, NULL, "bad address or connection id");
    return NULL;
  }

  ngtcp2_pkt_hd hd;
  memset(&hd, 0, sizeof hd);
  if (!ctx->client && ngtcp2_accept(&hd, pkt, pkt_len) != 0) {
    napi_throw_error(env, NULL, "not an acceptable client Initial");
    return NULL;
  }

  conn_t *c = calloc(1, sizeof *c);
  c->view = vdata;
  c->ctx = ctx;
  ctx->refs++;
  c->local = *local;
  c->remote = *remote;
  c->path.local.addr = (ngtcp2_sockaddr *)&c->local.u;
  c->path.local.addrlen = c->local.len;
  c->path.remote.addr = (ngtcp2_sockaddr *)&c->remote.u;
  c->path.remote.addrlen = c->remote.len;
  c->ref.get_conn = get_conn;
  c->ref.user_data = c;

  ngtcp2_callbacks cb;
  memset(&cb, 0, sizeof cb);
  if (ctx->client) {
    cb.client_initial = ngtcp2_crypto_client_initial_cb;
    cb.recv_retry = ngtcp2_crypto_recv_retry_cb;
  } else {
    cb.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
  }
  cb.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
  cb.encrypt = ngtcp2_crypto_encrypt_cb;
  cb.decrypt = ngtcp2_crypto_decrypt_cb;
  cb.hp_mask = ngtcp2_crypto_hp_mask_cb;
  cb.update_key = ngtcp2_crypto_update_key_cb;
  cb.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
  cb.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
  cb.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
  cb.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
  cb.rand = cb_rand;
  cb.get_new_connection_id = cb_new_cid;
  cb.remove_connection_id = cb_remove_cid;
  cb.recv_stream_data = cb_recv_stream_data;
  cb.acked_stream_data_offset = cb_acked;
  cb.stream_close = cb_stream_close;
  cb.stream_reset = cb_stream_reset;
  cb.stream_stop_sending = cb_stop_sending;
  cb.recv_datagram = cb_recv_datagram;

  ngtcp2_settings settings;
  ngtcp2_settings_default(&settings);
  settings.initial_ts = now_ns();
  settings.cc_algo = NGTCP2_CC_ALGO_CUBIC;
  settings.max_tx_udp_payload_size = ctx->payload;
  /*
   * ngtcp2 keeps its packets at 1,200 bytes (its "shaping") unless told
   * otherwise; full 1,350-byte packets were tried and cost no less CPU per
   * session in alternating runs (docs/webtransport-egress.md), so the
   * library's default stays.
   */
  /* Our payload size is already the safe one; probing for more would cost packets for nothing on the paths we serve. */
  settings.no_pmtud = 1;
  settings.max_window = ctx->max_data;
  settings.max_stream_window = ctx->stream_window;

  ngtcp2_transport_params params;
  ngtcp2_transport_params_default(&params);
  params.initial_max_data = ctx->max_data;
  params.initial_max_stream_data_bidi_local = ctx->stream_window;
  params.initial_max_stream_data_bidi_remote = ctx->stream_window;
  params.initial_max_stream_data_uni = ctx->stream_window;
  params.initial_max_streams_bidi = ctx->max_streams;
  params.initial_max_streams_uni = ctx->max_streams;
  params.max_idle_timeout = ctx->idle_timeout_ms * NGTCP2_MILLISECONDS;
  params.max_udp_payload_size = 65527;
  params.disable_active_migration = 1;
  params.max_datagram_frame_size = ctx->max_datagram_frame;
  params.grease_quic_bit = 1;

  ngtcp2_cid scid, dcid;
  ngtcp2_cid_init(&scid, scid_b, scid_len);
  if (ctx->client) {
    ngtcp2_cid_init(&dcid, odcid_b, odcid_len);
    if (ngtcp2_conn_client_new(&c->conn, &dcid, &scid, &c->path, NGTCP2_PROTO_VER_V1, &cb, &settings, &params, NULL, c) != 0) goto fail;
    if (gnutls_init(&c->tls, GNUTLS_CLIENT | GNUTLS_NO_END_OF_EARLY_DATA) != 0) goto fail;
    if (gnutls_priority_set(c->tls, ctx->priority) != 0) goto fail;
    if (ngtcp2_crypto_gnutls_configure_client_session(c->tls) != 0) goto fail;
    gnutls_session_set_ptr(c->tls, &c->ref);
    if (gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, ctx->cred) != 0) goto fail;
    gnutls_datum_t client_alpn = {(unsigned char *)"h3", 2};
    if (gnutls_alpn_set_protocols(c->tls, &client_alpn, 1, GNUTLS_ALPN_MANDATORY) != 0) goto fail;
    if (gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, "localhost", 9) != 0) goto fail;
    ngtcp2_conn_set_tls_native_handle(c->conn, c->tls);
    if (handle_add(c) != 0) goto fail;
    if (napi_wrap(env, self, c, finalize_conn, NULL, NULL) != napi_ok) {
      handle_remove(c);
      goto fail;
    }
    update_view(c);
    return self;
  }
  params.stateless_reset_token_present = 1;
  ngtcp2_cid_init(&dcid, hd.scid.data, hd.scid.datalen);
  if (odcid_b != NULL) {
    /* After our Retry: the client's first DCID, and the one our Retry gave it (RFC 9000 §7.3). */
    ngtcp2_cid_init(&params.original_dcid, odcid_b, odcid_len);
    params.retry_scid = hd.dcid;
    params.retry_scid_present = 1;
  } else {
    params.original_dcid = hd.dcid;
  }
  if (ngtcp2_crypto_generate_stateless_reset_token(params.stateless_reset_token, ctx->secret, SECRET_LEN, &scid) != 0) goto fail;

  if (ngtcp2_conn_server_new(&c->conn, &dcid, &scid, &c->path, hd.version, &cb, &settings, &params, NULL, c) != 0) goto fail;
  if (ctx->keep_alive_ms > 0) ngtcp2_conn_set_keep_alive_timeout(c->conn, ctx->keep_alive_ms * NGTCP2_MILLISECONDS);

  if (gnutls_init(&c->tls, GNUTLS_SERVER | GNUTLS_NO_AUTO_SEND_TICKET | GNUTLS_NO_END_OF_EARLY_DATA) != 0) goto fail;
  if (gnutls_priority_set(c->tls, ctx->priority) != 0) goto fail;
  if (ngtcp2_crypto_gnutls_configure_server_session(c->tls) != 0) goto fail;
  gnutls_session_set_ptr(c->tls, &c->ref);
  if (gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, ctx->cred) != 0) goto fail;
  gnutls_datum_t alpn = {(unsigned char *)"h3", 2};
  if (gnutls_alpn_set_protocols(c->tls, &alpn, 1, GNUTLS_ALPN_MANDATORY) != 0) goto fail;
  ngtcp2_conn_set_tls_native_handle(c->conn, c->tls);

  if (handle_add(c) != 0) goto fail;
  if (napi_wrap(env, self, c, finalize_conn, NULL, NULL) != napi_ok) {
    handle_remove(c);
    goto fail;
  }
  update_view(c);
  return self;

fail:
  conn_destroy(c);
  free(c);
  napi_throw_error(env, NULL, "could not set up the QUIC connection");
  return NULL;
}

/* ---- input ---- */

/* One received datagram, from recv() or a client's own socket. */
static void conn_input(conn_t *c, const uint8_t *pkt, size_t len) {
  if (c->state == 1) {
    /* A peer still sending during our closing period gets the close again (RFC 9000 §10.2.1), a bounded number of times. */
    if (c->close_sends < 16) c->close_pending = 1;
    return;
  }
  if (c->state != 0) return;
  ngtcp2_pkt_info pi = {0};
  conn_after_error(c, ngtcp2_conn_read_pkt(c->conn, &c->path, &pi, pkt, len, now_ns()));
}

/* recv(packet, remote?): feeds one datagram; a new remote address comes only when the peer's changed. */
static napi_value conn_recv(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  conn_t *c = this_conn(env, info, &argc, argv);
  if (c == NULL) return NULL;
  uint8_t *pkt;
  size_t len;
  if (get_bytes(env, argv[0], &pkt, &len)) return NULL;
  if (argc > 1) {
    napi_valuetype t;
    napi_typeof(env, argv[1], &t);
    if (t == napi_object) {
      address_t *a;
      size_t alen;
      CHECK(napi_get_buffer_info(env, argv[1], (void **)&a, &alen));
      if (alen == sizeof(address_t)) c->remote = *a;
      c->path.remote.addrlen = c->remote.len;
    }
  }
  conn_input(c, pkt, len);
  return js_undefined(env);
}


static napi_value conn_on_timeout(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  conn_t *c = this_conn(env, info, &argc, NULL);
  if (c == NULL) return NULL;
  uint64_t now = now_ns();
  if (c->state == 1 || c->state == 2) {
    if (now >= c->close_deadline) c->state = 3;
    return js_undefined(env);
  }
  if (c->state != 0) return js_undefined(env);
  if (ngtcp2_conn_get_expiry(c->conn) <= now) conn_after_error(c, ngtcp2_conn_handle_expiry(c->conn, now));
  return js_undefined(env);
}

/* ---- output ---- */

/*
 * The stream to write next: lowest urgency first; at equal urgency, a
 * non-incremental stream is finished first (lowest id), as quiche does.
 * Streams found with nothing left to send leave the send queue.
 */
static stream_t *pick_stream(conn_t *c) {
  stream_t *best = NULL;
  stream_t **p = &c->sendq;
  while (*p != NULL) {
    stream_t *s = *p;
    if (!stream_has_output(s)) {
      *p = s->send_next;
      s->in_sendq = 0;
      s->send_next = NULL;
      continue;
    }
    p = &s->send_next;
    if (s->blocked) continue;
    if (best == NULL || s->urgency < best->urgency || (s->urgency == best->urgency && s->id < best->id)) best = s;
  }
  return best;
}

static size_t stream_vecs(stream_t *s, ngtcp2_vec *v) {
  size_t n = 0;
  uint64_t pos = s->cur_base;
  for (chunk_t *ch = s->cur; ch != NULL && n < MAX_VECS; ch = ch->next) {
    uint64_t end = pos + ch->len;
    if (end > s->sent) {
      uint64_t skip = s->sent > pos ? s->sent - pos : 0;
      v[n].base = (uint8_t *)ch->data + skip;
      v[n].len = (size_t)(ch->len - skip);
      n++;
    }
    pos = end;
  }
  return n;
}

static void stream_wrote(conn_t *c, stream_t *s, ngtcp2_ssize datalen, int fin_flag, size_t nvec, const ngtcp2_vec *v) {
  if (datalen < 0) return;
  s->sent += (uint64_t)datalen;
  c->unsent -= (uint64_t)datalen;
  while (s->cur != NULL && s->cur_base + s->cur->len <= s->sent) {
    s->cur_base += s->cur->len;
    s->cur = s->cur->next;
  }
  if (fin_flag && s->sent == s->queued) {
    /* ngtcp2 takes the FIN with the last byte; a FIN alone reports 0 bytes written. */
    size_t total = 0;
    for (size_t i = 0; i < nvec; i++) total += v[i].len;
    if ((size_t)datalen == total) s->fin_sent = 1;
  }
}

/* The packets of one writePackets call (below); also what a client sends on its own socket. */
static uint32_t write_batch(conn_t *c, uint8_t *bytes, size_t byte_len, uint32_t pos, uint32_t *lens, uint32_t index, uint32_t room, address_t *addrs) {
  uint32_t count = 0;
  size_t payload = c->ctx->payload;
  if (c->state == 1) {
    if (c->close_pending && room > 0 && byte_len - pos >= c->close_len) {
      memcpy(bytes + pos, c->close_pkt, c->close_len);
      lens[index] = (uint32_t)c->close_len;
      if (addrs) addrs[index] = c->remote;
      c->close_pending = 0;
      c->close_sends++;
      count = 1;
    }
    return count;
  }
  if (c->state != 0) return 0;

  uint64_t ts = now_ns();
  if (c->pacing_deferred) {
    /*
     * The last burst left nothing queued, so its pacing gap was not set:
     * ngtcp2 would have put it in the connection's expiry, and every burst
     * would have cost a timer wake-up with nothing to send (about one per
     * frame per session). Its bytes are counted now, as a gap already over,
     * and the gap cleared with the timers that are due anyway.
     */
    c->pacing_deferred = 0;
    ngtcp2_conn_update_pkt_tx_time(c->conn, ts > PACING_PAST ? ts - PACING_PAST : 0);
    conn_after_error(c, ngtcp2_conn_handle_expiry(c->conn, ts));
    if (c->state != 0) return 0;
  }
  int drained = 0;
  for (stream_t *s = c->sendq; s != NULL; s = s->send_next) s->blocked = 0;
  /* Pacing: at most a send quantum per call; ngtcp2's expiry brings the next flush. */
  size_t quantum = ngtcp2_conn_get_send_quantum(c->conn);
  uint32_t max_pkts = (uint32_t)(quantum / payload);
  if (max_pkts < 2) max_pkts = 2;
  if (max_pkts > room) max_pkts = room;

  ngtcp2_pkt_info pi;
  ngtcp2_vec vecs[MAX_VECS];
  while (count < max_pkts && byte_len - pos >= payload) {
    uint8_t *dest = bytes + pos;
    ngtcp2_ssize n;
    if (c->dgram_out.head != NULL) {
      chunk_t *d = c->dgram_out.head;
      ngtcp2_vec dv = {(uint8_t *)d->data, d->len};
      int accepted = 0;
      n = ngtcp2_conn_writev_datagram(c->conn, &c->path, &pi, dest, payload, &accepted, NGTCP2_WRITE_DATAGRAM_FLAG_MORE, c->dgram_id, &dv, 1,
                                      ts);
      if (accepted || n == NGTCP2_ERR_INVALID_ARGUMENT) {
        /* Sent, or larger than the peer takes: either way it leaves the queue (a datagram may be lost). */
        chunk_free(queue_pop(&c->dgram_out));
        c->dgram_id++;
      }
      if (n == NGTCP2_ERR_WRITE_MORE || n == NGTCP2_ERR_INVALID_ARGUMENT) continue;
      if (n == NGTCP2_ERR_INVALID_STATE) {
        /* The peer takes no datagrams (the server asks dgramMaxWritableLen first, so only a race gets here). */
        queue_free(&c->dgram_out);
        continue;
      }
      if (n < 0) {
        conn_fail(c, (int)n);
        break;
      }
      if (n == 0) {
        drained = 1;
        break;
      }
    } else {
      stream_t *s = pick_stream(c);
      int64_t sid = -1;
      size_t nvec = 0;
      /* MORE asks ngtcp2 to leave room for another stream's frame; with no stream left, the packet is finished as it is. */
      uint32_t flags = s != NULL ? NGTCP2_WRITE_STREAM_FLAG_MORE : NGTCP2_WRITE_STREAM_FLAG_NONE;
      if (s != NULL) {
        sid = s->id;
        nvec = stream_vecs(s, vecs);
        if (s->fin_queued && !s->fin_sent) {
          /* The FIN goes with the last vector only if every queued byte is in these vectors. */
          uint64_t in_vecs = 0;
          for (size_t i = 0; i < nvec; i++) in_vecs += vecs[i].len;
          if (s->sent + in_vecs == s->queued) flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
        }
      }
      ngtcp2_ssize datalen = -1;
      n = ngtcp2_conn_writev_stream(c->conn, &c->path, &pi, dest, payload, &datalen, flags, sid, nvec ? vecs : NULL, nvec, ts);
      if (n < 0) {
        if (n == NGTCP2_ERR_WRITE_MORE) {
          uint64_t before = s->sent;
          int fin_before = s->fin_sent;
          stream_wrote(c, s, datalen, flags & NGTCP2_WRITE_STREAM_FLAG_FIN, nvec, vecs);
          /* No progress on this stream: leave it for this call, so the loop cannot spin on it. */
          if (s->sent == before && s->fin_sent == fin_before) s->blocked = 1;
          continue;
        }
        if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED) {
          s->blocked = 1;
          continue;
        }
        if (n == NGTCP2_ERR_STREAM_SHUT_WR || n == NGTCP2_ERR_STREAM_NOT_FOUND) {
          s->write_shut = 1;
          stream_drop_output(c, s);
          continue;
        }
        conn_fail(c, (int)n);
        break;
      }
      if (s != NULL) stream_wrote(c, s, datalen, flags & NGTCP2_WRITE_STREAM_FLAG_FIN, nvec, vecs);
      if (n == 0) {
        drained = 1;
        break;
      }
    }
    lens[index + count] = (uint32_t)n;
    if (addrs) addrs[index + count] = c->remote;
    pos += (uint32_t)n;
    count++;
  }
  if (drained && c->unsent == 0 && c->dgram_out.head == NULL && c->state == 0)
    c->pacing_deferred = 1;
  else
    ngtcp2_conn_update_pkt_tx_time(c->conn, ts);
  if (c->state == 1 && c->close_pending && count < room && byte_len - pos >= c->close_len) {
    memcpy(bytes + pos, c->close_pkt, c->close_len);
    lens[index + count] = (uint32_t)c->close_len;
    if (addrs) addrs[index + count] = c->remote;
    c->close_pending = 0;
    c->close_sends++;
    count++;
  }
  return count;
}

/*
 * writePackets(bytes, pos, lengths, index, room, addresses?): writes up to
 * `room` packets back to back into bytes[pos...], their sizes into
 * lengths[index...] and their destination into addresses[index...].
 * Returns how many. Fewer than `room` means the connection has nothing more
 * to send now (or congestion or pacing holds it back).
 */
static napi_value conn_write_packets(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  conn_t *c = this_conn(env, info, &argc, argv);
  if (c == NULL) return NULL;
  uint8_t *bytes;
  size_t byte_len;
  if (get_bytes(env, argv[0], &bytes, &byte_len)) return NULL;
  uint32_t pos, index, room;
  napi_typedarray_type type;
  size_t lens_len, off;
  void *lens_data;
  napi_value ab;
  CHECK(napi_get_value_uint32(env, argv[1], &pos));
  CHECK(napi_get_typedarray_info(env, argv[2], &type, &lens_len, &lens_data, &ab, &off));
  CHECK(napi_get_value_uint32(env, argv[3], &index));
  CHECK(napi_get_value_uint32(env, argv[4], &room));
  if (type != napi_uint32_array || index + room > lens_len || pos > byte_len) {
    napi_throw_range_error(env, NULL, "bad batch arguments");
    return NULL;
  }
  uint32_t *lens = lens_data;
  /* Each packet's destination goes beside it, so one sendmmsg can carry several connections' packets. */
  address_t *addrs = NULL;
  if (argc > 5) {
    size_t alen;
    CHECK(napi_get_buffer_info(env, argv[5], (void **)&addrs, &alen));
    if (alen < (index + room) * sizeof(address_t)) {
      napi_throw_range_error(env, NULL, "address slab too small");
      return NULL;
    }
  }
  return js_number(env, write_batch(c, bytes, byte_len, pos, lens, index, room, addrs));
}

/* ---- streams from JavaScript ---- */

/*
 * streamSend(id, data, fin): bytes taken (0..len), or null when none can be
 * now; throws StreamStopped(code). `data` is a Uint8Array (copied) or a
 * payload from share() (referenced).
 */
static napi_value conn_stream_send(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  conn_t *c = this_conn(env, info, &argc, argv);
  if (c == NULL) return NULL;
  int64_t id = get_i64(env, argv[0]);
  uint8_t *data;
  size_t len;
  shared_t *sh = NULL;
  napi_valuetype vt;
  CHECK(napi_typeof(env, argv[1], &vt));
  if (vt == napi_external) {
    CHECK(napi_get_value_external(env, argv[1], (void **)&sh));
    data = sh->data;
    len = sh->len;
  } else if (get_bytes(env, argv[1], &data, &len)) {
    return NULL;
  }
  bool fin = false;
  napi_get_value_bool(env, argv[2], &fin);
  if (c->state != 0) {
    napi_throw_error(env, NULL, "Done: connection is closing");
    return NULL;
  }
  stream_t *s = stream_find(c, id);
  if (s == NULL) {
    if (!ngtcp2_conn_is_local_stream(c->conn, id)) {
      napi_throw_error(env, NULL, "InvalidStreamState: no such stream");
      return NULL;
    }
    /* Our streams are opened in order; the caller's ids follow the same sequence. */
    int64_t opened = -1;
    int rv = (id & 2) ? ngtcp2_conn_open_uni_stream(c->conn, &opened, NULL) : ngtcp2_conn_open_bidi_stream(c->conn, &opened, NULL);
    if (rv == NGTCP2_ERR_STREAM_ID_BLOCKED) {
      napi_throw_error(env, NULL, "StreamLimit: no stream credit");
      return NULL;
    }
    if (rv != 0 || opened != id) {
      napi_throw_error(env, NULL, "InvalidStreamState: streams must be opened in order");
      return NULL;
    }
    s = stream_get(c, id);
    if (s == NULL) {
      napi_throw_error(env, NULL, "out of memory");
      return NULL;
    }
  }
  if (s->stopped) {
    throw_code(env, "StreamStopped", s->stop_code);
    return NULL;
  }
  if (s->write_shut || s->fin_queued) {
    napi_throw_error(env, NULL, "FinalSize: stream already finished");
    return NULL;
  }
  /*
   * Take what the peer's flow control allows, over what is already queued.
   * The scheduler then sends the most urgent stream first; a group that
   * falls behind is dropped by resetting its stream, which frees its queue.
   */
  uint64_t stream_left = ngtcp2_conn_get_max_stream_data_left(c->conn, id);
  uint64_t s_unsent = s->queued - s->sent;
  uint64_t conn_left = ngtcp2_conn_get_max_data_left(c->conn);
  uint64_t cap = stream_left > s_unsent ? stream_left - s_unsent : 0;
  uint64_t ccap = conn_left > c->unsent ? conn_left - c->unsent : 0;
  if (ccap < cap) cap = ccap;
  size_t n = len < cap ? len : (size_t)cap;
  if (len > 0 && n == 0) return js_null(env);
  if (n > 0) {
    chunk_t *ch = sh != NULL ? chunk_of_shared(sh, n) : chunk_new(data, n);
    if (ch == NULL) {
      napi_throw_error(env, NULL, "out of memory");
      return NULL;
    }
    queue_push(&s->out, ch);
    if (s->cur == NULL) {
      s->cur = ch;
      s->cur_base = s->queued;
    }
    s->queued += n;
    c->unsent += n;
  }
  if (fin && n == len) s->fin_queued = 1;
  if (stream_has_output(s)) sendq_add(c, s);
  return js_number(env, (double)n);
}

/* streamRecv(id, buf): [bytes, fin] or null when nothing is there; throws StreamReset(code). */
static napi_value conn_stream_recv(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  conn_t *c = this_conn(env, info, &argc, argv);
  if (c == NULL) return NULL;
  int64_t id = get_i64(env, argv[0]);
  uint8_t *buf;
  size_t cap;
  if (get_bytes(env, argv[1], &buf, &cap)) return NULL;
  stream_t *s = stream_find(c, id);
  if (s == NULL || s->read_shut) return js_null(env);
  if (s->reset) {
    if (s->reset_reported) return js_null(env);
    s->reset_reported = 1;
    uint64_t code = s->reset_code;
    stream_maybe_free(c, s);
    throw_code(env, "StreamReset", code);
    return NULL;
  }
  size_t n = 0;
  while (n < cap && s->in.head != NULL) {
    chunk_t *ch = s->in.head;
    size_t take = ch->len - s->in_pos;
    if (take > cap - n) take = cap - n;
    memcpy(buf + n, ch->data + s->in_pos, take);
    n += take;
    s->in_pos += take;
    if (s->in_pos == ch->len) {
      chunk_free(queue_pop(&s->in));
      s->in_pos = 0;
    }
  }
  if (n > 0 && c->state == 0) {
    ngtcp2_conn_extend_max_stream_offset(c->conn, id, n);
    ngtcp2_conn_extend_max_offset(c->conn, n);
  }
  int fin = s->in.head == NULL && s->fin_recv && !s->fin_reported;
  if (fin) s->fin_reported = 1;
  if (n == 0 && !fin) return js_null(env);
  napi_value out, nv, fv;
  CHECK(napi_create_array_with_length(env, 2, &out));
  CHECK(napi_create_uint32(env, (uint32_t)n, &nv));
  CHECK(napi_get_boolean(env, fin, &fv));
  CHECK(napi_set_element(env, out, 0, nv));
  CHECK(napi_set_element(env, out, 1, fv));
  if (fin) stream_maybe_free(c, s);
  return out;
}

static napi_value conn_readable(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  conn_t *c = this_conn(env, info, &argc, NULL);
  if (c == NULL) return NULL;
  napi_value out;
  CHECK(napi_create_array(env, &out));
  uint32_t i = 0;
  for (stream_t *s = c->streams; s != NULL; s = s->next) {
    if (!stream_readable(s)) continue;
    napi_value v;
    CHECK(napi_create_int64(env, s->id, &v));
    CHECK(napi_set_element(env, out, i++, v));
  }
  return out;
}


/* streamShutdown(id, direction 0 read | 1 write, code): null when there was nothing to shut. */
static napi_value conn_stream_shutdown(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  conn_t *c = this_conn(env, info, &argc, argv);
  if (c == NULL) return NULL;
  int64_t id = get_i64(env, argv[0]);
  int64_t dir = get_i64(env, argv[1]);
  uint64_t code = (uint64_t)get_i64(env, argv[2]);
  if (c->state != 0) return js_null(env);
  stream_t *s = stream_find(c, id);
  if (dir == 0) {
    int rv = ngtcp2_conn_shutdown_stream_read(c->conn, id, code);
    if (s != NULL) {
      stream_drop_input(c->conn, s);
      s->read_shut = 1;
      stream_maybe_free(c, s);
    }
    return rv == 0 ? js_undefined(env) : js_null(env);
  }
  if (s == NULL || s->write_shut || (s->fin_sent && s->acked == s->queued)) return js_null(env);
  int rv = ngtcp2_conn_shutdown_stream_write(c->conn, id, code);
  s->write_shut = 1;
  stream_drop_output(c, s);
  return rv == 0 ? js_undefined(env) : js_null(env);
}

/* The stream named by the call's first argument, or NULL with an exception pending. */
static stream_t *this_stream(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  conn_t *c = this_conn(env, info, argc, argv);
  if (c == NULL) return NULL;
  stream_t *s = *argc > 0 ? stream_find(c, get_i64(env, argv[0])) : NULL;
  if (s == NULL) napi_throw_error(env, NULL, "InvalidStreamState: no such stream");
  return s;
}

static napi_value conn_stream_priority(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  stream_t *s = this_stream(env, info, &argc, argv);
  if (s == NULL) return NULL;
  int64_t u = get_i64(env, argv[1]);
  bool inc = false;
  napi_get_value_bool(env, argv[2], &inc);
  s->urgency = (uint8_t)(u < 0 ? 0 : u > 7 ? 7 : u);
  s->incremental = inc;
  return js_undefined(env);
}

static napi_value conn_streams_left_uni(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  conn_t *c = this_conn(env, info, &argc, NULL);
  if (c == NULL) return NULL;
  return js_number(env, c->state == 0 ? (double)ngtcp2_conn_get_streams_uni_left(c->conn) : 0);
}

/* streamCount(): streams this connection still keeps state for (tests check that finished streams are let go). */
static napi_value conn_stream_count(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  conn_t *c = this_conn(env, info, &argc, NULL);
  if (c == NULL) return NULL;
  double n = 0;
  for (stream_t *s = c->streams; s != NULL; s = s->next) n++;
  return js_number(env, n);
}

static napi_value conn_streams_left_bidi(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  conn_t *c = this_conn(env, info, &argc, NULL);
  if (c == NULL) return NULL;
  return js_number(env, c->state == 0 ? (double)ngtcp2_conn_get_streams_bidi_left(c->conn) : 0);
}

/* ---- datagrams ---- */

static napi_value conn_dgram_max(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  conn_t *c = this_conn(env, info, &argc, NULL);
  if (c == NULL) return NULL;
  if (c->state != 0 || !ngtcp2_conn_get_handshake_completed(c->conn)) return js_null(env);
  const ngtcp2_transport_params *rp = ngtcp2_conn_get_remote_transport_params(c->conn);
  if (rp == NULL || rp->max_datagram_frame_size == 0) return js_null(env);
  /* One short-header packet: flags, the peer's connection id, a 4-byte packet number, the AEAD tag; then the frame's type and length. */
  const ngtcp2_cid *dcid = ngtcp2_conn_get_dcid(c->conn);
  /* The size ngtcp2 writes on this path (1,200 bytes: it shapes packets to that without path MTU discovery), not the configured ceiling. */
  int64_t room = (int64_t)ngtcp2_conn_get_path_max_tx_udp_payload_size(c->conn) - 1 - (int64_t)dcid->datalen - 4 - 16 - 1 - 2;
  int64_t frame = (int64_t)rp->max_datagram_frame_size - 1 - 2;
  if (frame < room) room = frame;
  return room > 0 ? js_number(env, (double)room) : js_null(env);
}

static napi_value conn_dgram_full(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  conn_t *c = this_conn(env, info, &argc, NULL);
  if (c == NULL) return NULL;
  return js_bool(env, c->dgram_out.count >= DGRAM_QUEUE);
}

static napi_value conn_dgram_send(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  conn_t *c = this_conn(env, info, &argc, argv);
  if (c == NULL) return NULL;
  uint8_t *data;
  size_t len;
  if (get_bytes(env, argv[0], &data, &len)) return NULL;
  if (c->state != 0 || c->dgram_out.count >= DGRAM_QUEUE) {
    napi_throw_error(env, NULL, "Done: datagram queue full");
    return NULL;
  }
  chunk_t *ch = chunk_new(data, len);
  if (ch == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  queue_push(&c->dgram_out, ch);
  return js_undefined(env);
}

static napi_value conn_dgram_recv(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  conn_t *c = this_conn(env, info, &argc, NULL);
  if (c == NULL) return NULL;
  chunk_t *ch = queue_pop(&c->dgram_in);
  if (ch == NULL) return js_null(env);
  c->dgram_in_bytes -= ch->len;
  napi_value out;
  void *data;
  napi_status st = napi_create_buffer_copy(env, ch->len, ch->data, &data, &out);
  chunk_free(ch);
  if (st != napi_ok) return js_null(env);
  return out;
}

/* ---- state ---- */



/* close(app, code, reason): sends CONNECTION_CLOSE with the next packets; throws Done when already closing. */
static napi_value conn_close(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  conn_t *c = this_conn(env, info, &argc, argv);
  if (c == NULL) return NULL;
  bool app = false;
  napi_get_value_bool(env, argv[0], &app);
  uint64_t code = (uint64_t)get_i64(env, argv[1]);
  uint8_t *reason = NULL;
  size_t rlen = 0;
  if (argc > 2 && get_bytes(env, argv[2], &reason, &rlen)) return NULL;
  if (c->state != 0) {
    napi_throw_error(env, NULL, "Done: already closing");
    return NULL;
  }
  ngtcp2_connection_close_error ccerr;
  ngtcp2_connection_close_error_default(&ccerr);
  if (rlen > 100) rlen = 100;
  if (app) ngtcp2_connection_close_error_set_application_error(&ccerr, code, reason, rlen);
  else ngtcp2_connection_close_error_set_transport_error(&ccerr, code, reason, rlen);
  conn_close_with(c, &ccerr);
  return js_undefined(env);
}

static napi_value conn_peer_error(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  conn_t *c = this_conn(env, info, &argc, NULL);
  if (c == NULL) return NULL;
  if (!c->peer_closed) return js_null(env);
  ngtcp2_connection_close_error ccerr;
  ngtcp2_conn_get_connection_close_error(c->conn, &ccerr);
  napi_value out, v;
  CHECK(napi_create_object(env, &out));
  CHECK(napi_get_boolean(env, ccerr.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION, &v));
  CHECK(napi_set_named_property(env, out, "isApp", v));
  CHECK(napi_create_double(env, (double)ccerr.error_code, &v));
  CHECK(napi_set_named_property(env, out, "errorCode", v));
  void *d;
  CHECK(napi_create_buffer_copy(env, ccerr.reasonlen, ccerr.reason ? ccerr.reason : (const uint8_t *)"", &d, &v));
  CHECK(napi_set_named_property(env, out, "reason", v));
  return out;
}

/* The connection ids the peer may use now, hex; null when unchanged since the last call. */
static napi_value conn_take_ids(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  conn_t *c = this_conn(env, info, &argc, NULL);
  if (c == NULL) return NULL;
  if (!c->ids_changed) return js_null(env);
  c->ids_changed = 0;
  size_t n = ngtcp2_conn_get_num_scid(c->conn);
  ngtcp2_cid *ids = calloc(n ? n : 1, sizeof *ids);
  n = ngtcp2_conn_get_scid(c->conn, ids);
  napi_value out;
  CHECK(napi_create_array_with_length(env, n, &out));
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    char s[2 * MAX_CID + 1];
    for (size_t k = 0; k < ids[i].datalen; k++) {
      s[2 * k] = hex[ids[i].data[k] >> 4];
      s[2 * k + 1] = hex[ids[i].data[k] & 15];
    }
    napi_value v;
    CHECK(napi_create_string_latin1(env, s, 2 * ids[i].datalen, &v));
    CHECK(napi_set_element(env, out, (uint32_t)i, v));
  }
  free(ids);
  return out;
}

/* The peer's address for output: the one packets last came from. */
static napi_value conn_remote(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  conn_t *c = this_conn(env, info, &argc, NULL);
  if (c == NULL) return NULL;
  napi_value out;
  void *d;
  CHECK(napi_create_buffer_copy(env, sizeof c->remote, &c->remote, &d, &out));
  return out;
}

/* peerCertificate(): the DER of the peer's leaf certificate, or null before the handshake gave one. */
static napi_value conn_peer_cert(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  conn_t *c = this_conn(env, info, &argc, NULL);
  if (c == NULL) return NULL;
  unsigned int n = 0;
  const gnutls_datum_t *certs = gnutls_certificate_get_peers(c->tls, &n);
  if (certs == NULL || n == 0) return js_null(env);
  napi_value out;
  void *d;
  CHECK(napi_create_buffer_copy(env, certs[0].size, certs[0].data, &d, &out));
  return out;
}

/* Frees the connection's memory now (the server is done with it); later calls throw. */
static napi_value conn_destroy_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t h = UINT32_MAX;
  /* Destroying twice is harmless: the slot stays until the object is collected. */
  if (argc > 0 && napi_get_value_uint32(env, argv[0], &h) == napi_ok && h < handles_len && handles[h] != NULL) conn_destroy(handles[h]);
  return js_undefined(env);
}


/* ---- a client on its own socket ----
 *
 * The bench's load clients run hundreds of connections in one process. Fed
 * through Node's dgram, each received datagram costs a 64 KiB allocation, an
 * address string and a JavaScript event, several times what ngtcp2 needs to
 * decrypt it. Here the socket is read with recvmmsg straight into ngtcp2, and
 * JavaScript hears once per `batch` packets, to read its streams and answer.
 */

#define CLIENT_RECV_SLOTS 64
/* With UDP_GRO a read returns up to 64 KiB of same-sized packets coalesced by the kernel. */
#define CLIENT_RECV_SIZE 65536
#define CLIENT_SEND_SLOTS 32

#ifndef UDP_GRO
#define UDP_GRO 104
#endif

typedef struct client_io {
  uv_poll_t poll;
  int fd;
  uint32_t batch;
  napi_env env;
  napi_ref callback;
  napi_async_context async;
  conn_t *c;
} client_io_t;

static uint8_t recv_bufs[CLIENT_RECV_SLOTS][CLIENT_RECV_SIZE];
static uint8_t send_buf[CLIENT_SEND_SLOTS * 1500];

static void io_closed(uv_handle_t *h) { free(h->data); }

static void client_detach(conn_t *c) {
  client_io_t *io = c->io;
  if (io == NULL) return;
  c->io = NULL;
  uv_poll_stop(&io->poll);
  close(io->fd);
  napi_delete_reference(io->env, io->callback);
  napi_async_destroy(io->env, io->async);
  io->poll.data = io;
  uv_close((uv_handle_t *)&io->poll, io_closed);
}

/* The segment size of a coalesced read (UDP_GRO's control message), or 0 for a single datagram. */
static size_t gro_segment(struct msghdr *h) {
  for (struct cmsghdr *cm = CMSG_FIRSTHDR(h); cm != NULL; cm = CMSG_NXTHDR(h, cm)) {
    if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
      int seg;
      memcpy(&seg, CMSG_DATA(cm), sizeof seg);
      return seg > 0 ? (size_t)seg : 0;
    }
  }
  return 0;
}

/* Tells JavaScript what arrived since it last heard (packets, bytes, datagrams as read), as after every `batch` packets. */
static void client_report(client_io_t *io, uint32_t *counts) {
  if (counts[0] == 0) return;
  update_view(io->c);
  uint32_t args[3] = {counts[0], counts[1], counts[2]};
  counts[0] = counts[1] = counts[2] = 0;
  call_js_u32(io->env, io->async, io->callback, 3, args);
}

static void client_readable(uv_poll_t *h, int status, int events) {
  client_io_t *io = h->data;
  if (status < 0 || io == NULL) return;
  conn_t *c = io->c;
  struct mmsghdr msgs[CLIENT_RECV_SLOTS];
  struct iovec iov[CLIENT_RECV_SLOTS];
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } ctl[CLIENT_RECV_SLOTS];
  /* Bounded per wake-up, so one busy connection does not starve the others of the loop. */
  for (int rounds = 0; rounds < 16 && c->io == io; rounds++) {
    uint32_t want = io->batch < CLIENT_RECV_SLOTS ? io->batch : CLIENT_RECV_SLOTS;
    for (uint32_t i = 0; i < want; i++) {
      iov[i].iov_base = recv_bufs[i];
      iov[i].iov_len = CLIENT_RECV_SIZE;
      memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_control = ctl[i].buf;
      msgs[i].msg_hdr.msg_controllen = sizeof ctl[i].buf;
    }
    int n = recvmmsg(io->fd, msgs, want, MSG_DONTWAIT, NULL);
    if (n <= 0) break;
    /*
     * JavaScript hears after every `batch` packets, however the kernel
     * coalesced them, so the client reads its streams and acknowledges as
     * often as it would one datagram at a time.
     */
    uint32_t counts[3] = {0, 0, 0};
    for (int i = 0; i < n && c->io == io; i++) {
      size_t len = msgs[i].msg_len, seg = gro_segment(&msgs[i].msg_hdr);
      if (seg == 0 || seg > len) seg = len;
      counts[2]++;
      for (size_t off = 0; off < len && c->io == io; off += seg) {
        size_t part = len - off < seg ? len - off : seg;
        conn_input(c, recv_bufs[i] + off, part);
        counts[0]++;
        counts[1] += (uint32_t)part;
        if (counts[0] >= io->batch) client_report(io, counts);
      }
    }
    if (c->io == io) client_report(io, counts);
    if ((uint32_t)n < want) break;
  }
}

/* clientSocket(remote): a UDP socket connected to the server; [fd, local address]. */
static napi_value client_socket(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  address_t *remote;
  size_t rlen;
  if (argc < 1 || napi_get_buffer_info(env, argv[0], (void **)&remote, &rlen) != napi_ok || rlen != sizeof(address_t)) {
    napi_throw_type_error(env, NULL, "clientSocket needs the server's address");
    return NULL;
  }
  int fd = socket(remote->u.v4.sin_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  /* Media arrives in bursts: the default receive buffer overflows while the loop is busy elsewhere (capped by net.core.rmem_max). */
  int rcv = 4 * 1024 * 1024;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  /*
   * Take the server's GSO sends whole, as a receiver across a network takes
   * them from its NIC's GRO: on loopback the receiver's per-datagram work
   * runs inside the sender's system call, and without this the server would
   * be billed for splitting every send back into packets for us. Older
   * kernels refuse it, and then packets come one by one as before.
   */
  int on = 1;
  setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on);
  address_t local;
  memset(&local, 0, sizeof local);
  local.len = sizeof local.u;
  if (connect(fd, (struct sockaddr *)&remote->u, remote->len) != 0 || getsockname(fd, (struct sockaddr *)&local.u, &local.len) != 0) {
    int e = errno;
    close(fd);
    napi_throw_error(env, NULL, strerror(e));
    return NULL;
  }
  napi_value out, v;
  void *d;
  CHECK(napi_create_array_with_length(env, 2, &out));
  CHECK(napi_create_int32(env, fd, &v));
  CHECK(napi_set_element(env, out, 0, v));
  CHECK(napi_create_buffer_copy(env, sizeof local, &local, &d, &v));
  CHECK(napi_set_element(env, out, 1, v));
  return out;
}

/*
 * attach(fd, batch, onInput(packets, bytes, datagrams)): the connection reads
 * `fd` itself; JavaScript hears after every `batch` packets at most.
 * `datagrams` counts reads: fewer than packets when the kernel coalesced them.
 */
static napi_value conn_attach(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  conn_t *c = this_conn(env, info, &argc, argv);
  if (c == NULL) return NULL;
  int32_t fd;
  uint32_t batch;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  CHECK(napi_get_value_uint32(env, argv[1], &batch));
  if (c->io != NULL || batch == 0) {
    napi_throw_error(env, NULL, "already attached, or no batch size");
    return NULL;
  }
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  client_io_t *io = calloc(1, sizeof *io);
  io->fd = fd;
  io->batch = batch;
  io->env = env;
  io->c = c;
  napi_value name;
  CHECK(napi_create_string_utf8(env, "QuicClientInput", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, NULL, name, &io->async));
  CHECK(napi_create_reference(env, argv[2], 1, &io->callback));
  if (uv_poll_init(loop, &io->poll, fd) != 0) {
    napi_delete_reference(env, io->callback);
    napi_async_destroy(env, io->async);
    free(io);
    napi_throw_error(env, NULL, "uv_poll_init failed");
    return NULL;
  }
  io->poll.data = io;
  c->io = io;
  uv_poll_start(&io->poll, UV_READABLE, client_readable);
  return js_undefined(env);
}

/* flushOut(): writes and sends every packet the connection has ready on its own socket; returns how many. */
static napi_value conn_flush_out(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  conn_t *c = this_conn(env, info, &argc, NULL);
  if (c == NULL) return NULL;
  if (c->io == NULL) {
    napi_throw_error(env, NULL, "not attached");
    return NULL;
  }
  uint32_t lens[CLIENT_SEND_SLOTS], total = 0;
  struct mmsghdr msgs[CLIENT_SEND_SLOTS];
  struct iovec iov[CLIENT_SEND_SLOTS];
  for (;;) {
    uint32_t n = write_batch(c, send_buf, sizeof send_buf, 0, lens, 0, CLIENT_SEND_SLOTS, NULL);
    size_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
      iov[i].iov_base = send_buf + off;
      iov[i].iov_len = lens[i];
      memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      off += lens[i];
    }
    /* A full send buffer drops the rest: QUIC's loss recovery resends what mattered, as after any loss. */
    if (n > 0) sendmmsg(c->io->fd, msgs, n, 0);
    total += n;
    if (n < CLIENT_SEND_SLOTS) break;
  }
  return js_number(env, total);
}

/* detach(): stops reading and closes the socket. */
static napi_value conn_detach(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  conn_t *c = this_conn(env, info, &argc, NULL);
  if (c == NULL) return NULL;
  client_detach(c);
  return js_undefined(env);
}

/* Calls after which JavaScript's view of the connection must be fresh. */
#define WITH_VIEW(fn)                                                  \
  static napi_value fn##_v(napi_env env, napi_callback_info info) {    \
    current = NULL;                                                    \
    napi_value r = fn(env, info);                                      \
    if (current != NULL && current->conn != NULL) update_view(current); \
    current = NULL;                                                    \
    return r;                                                          \
  }
WITH_VIEW(conn_recv)
WITH_VIEW(conn_write_packets)
WITH_VIEW(conn_on_timeout)
WITH_VIEW(conn_stream_recv)
WITH_VIEW(conn_stream_shutdown)
WITH_VIEW(conn_dgram_recv)
WITH_VIEW(conn_close)
WITH_VIEW(conn_take_ids)
WITH_VIEW(conn_flush_out)

static void finalize_shared(napi_env env, void *data, void *hint) {
  (void)hint;
  shared_t *sh = data;
  int64_t adjusted;
  napi_adjust_external_memory(env, -(int64_t)sh->len, &adjusted);
  shared_unref(sh);
}

/* share(bytes): a copy of `bytes` that streamSend queues by reference, for bytes sent alike on many streams. */
static napi_value share(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint8_t *data;
  size_t len;
  if (argc < 1 || get_bytes(env, argv[0], &data, &len)) return NULL;
  shared_t *sh = malloc(sizeof(shared_t) + len);
  if (sh == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  sh->refs = 1;
  sh->len = len;
  memcpy(sh->data, data, len);
  napi_value out;
  if (napi_create_external(env, sh, finalize_shared, NULL, &out) != napi_ok) {
    free(sh);
    napi_throw_error(env, NULL, "could not wrap a shared payload");
    return NULL;
  }
  int64_t adjusted;
  /* The garbage collector is told what each payload holds, so unreferenced ones go in time. */
  napi_adjust_external_memory(env, (int64_t)len, &adjusted);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
#define METHOD(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_default_method, NULL}
  napi_property_descriptor methods[] = {
      METHOD("recv", conn_recv_v),
      METHOD("writePackets", conn_write_packets_v),
      METHOD("onTimeout", conn_on_timeout_v),
      METHOD("streamSend", conn_stream_send),
      METHOD("streamRecv", conn_stream_recv_v),
      METHOD("readable", conn_readable),
      METHOD("streamShutdown", conn_stream_shutdown_v),
      METHOD("streamPriority", conn_stream_priority),
      METHOD("peerStreamsLeftUni", conn_streams_left_uni),
      METHOD("peerStreamsLeftBidi", conn_streams_left_bidi),
      METHOD("streamCount", conn_stream_count),
      METHOD("dgramMaxWritableLen", conn_dgram_max),
      METHOD("isDgramSendQueueFull", conn_dgram_full),
      METHOD("dgramSend", conn_dgram_send),
      METHOD("dgramRecvVec", conn_dgram_recv_v),
      METHOD("close", conn_close_v),
      METHOD("peerError", conn_peer_error),
      METHOD("takeConnectionIds", conn_take_ids_v),
      METHOD("remoteAddress", conn_remote),
      METHOD("peerCertificate", conn_peer_cert),
      METHOD("attach", conn_attach),
      METHOD("flushOut", conn_flush_out_v),
      METHOD("detach", conn_detach),
      METHOD("destroy", conn_destroy_js),
  };
  /* The connection's functions take its handle first (see `handles`); the class only makes and keeps the connection. */
  napi_value cls;
  CHECK(napi_define_class(env, "Connection", NAPI_AUTO_LENGTH, conn_new, NULL, 0, NULL, &cls));
  CHECK(napi_create_reference(env, cls, 1, &conn_class));
  CHECK(napi_define_properties(env, exports, sizeof methods / sizeof methods[0], methods));
  napi_property_descriptor props[] = {
      {"Connection", NULL, NULL, NULL, NULL, cls, napi_default, NULL},
      METHOD("createContext", create_context),
      METHOD("clientSocket", client_socket),
      METHOD("share", share),
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  if (gnutls_global_init() != 0) {
    napi_throw_error(env, NULL, "gnutls_global_init failed");
    return NULL;
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
