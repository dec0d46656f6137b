/*
 * Batched UDP input for the QUIC server: the socket is read with recvmmsg(2)
 * into buffers JavaScript lent us, and JavaScript hears once per batch.
 * Node's dgram allocates a 64 KiB buffer (zeroed), builds an address string
 * and emits an event for every datagram, which costs more than reading an
 * ACK; a QUIC server reads thousands a second.
 *
 * The descriptor is a dup of Node's socket, watched by our own uv_poll: the
 * caller stops dgram's reading first, and Node keeps the socket for sending
 * and closing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <node_api.h>
#include <uv.h>
#include "../common/address.h"
#include "../common/napi-check.h"
#include "../common/napi-callback.h"
#include "udp_receive.h"

/* Batches read per wake-up at most, so a flood cannot keep the loop from everything else. */
#define MAX_ROUNDS 8

typedef struct {
  uv_poll_t poll;
  int fd;
  napi_env env;
  napi_ref callback;
  napi_ref buffers[3];
  napi_async_context async;
  uint8_t *bytes;
  size_t slot;
  uint32_t *lengths;
  address_t *addresses;
  uint32_t slots;
  int stopped;
  /* Freed once both the poll handle is closed and JavaScript's handle is collected. */
  int closed, collected;
} receiver_t;

static void receiver_closed(uv_handle_t *h) {
  receiver_t *r = h->data;
  r->closed = 1;
  if (r->collected) free(r);
}

static void receiver_stop(receiver_t *r) {
  if (r->stopped) return;
  r->stopped = 1;
  uv_poll_stop(&r->poll);
  close(r->fd);
  napi_delete_reference(r->env, r->callback);
  for (int i = 0; i < 3; i++) napi_delete_reference(r->env, r->buffers[i]);
  napi_async_destroy(r->env, r->async);
  uv_close((uv_handle_t *)&r->poll, receiver_closed);
}

static void on_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  receiver_t *r = h->data;
  if (status < 0 || r->stopped) return;
  struct mmsghdr msgs[256];
  struct iovec iov[256];
  uint32_t want = r->slots < 256 ? r->slots : 256;
  for (int round = 0; round < MAX_ROUNDS && !r->stopped; round++) {
    for (uint32_t i = 0; i < want; i++) {
      iov[i].iov_base = r->bytes + i * r->slot;
      iov[i].iov_len = r->slot;
      memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &r->addresses[i].u;
      msgs[i].msg_hdr.msg_namelen = sizeof r->addresses[i].u;
    }
    int n = recvmmsg(r->fd, msgs, want, MSG_DONTWAIT, NULL);
    if (n <= 0) return;
    for (int i = 0; i < n; i++) {
      r->addresses[i].len = msgs[i].msg_hdr.msg_namelen;
      /* A datagram larger than a slot is not a packet of ours (clients send at most what we allow): dropped. */
      r->lengths[i] = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? 0 : msgs[i].msg_len;
    }
    uint32_t count = (uint32_t)n;
    call_js_u32(r->env, r->async, r->callback, 1, &count);
    if ((uint32_t)n < want) return;
  }
}

static int get_buffer(napi_env env, napi_value v, void **data, size_t *len) {
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 1;
  napi_typedarray_type type;
  napi_value ab;
  size_t off, n;
  if (napi_get_typedarray_info(env, v, &type, &n, data, &ab, &off) != napi_ok) return 1;
  *len = type == napi_uint32_array ? n * 4 : n;
  return 0;
}

static void finalize_receiver(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  receiver_t *r = data;
  r->collected = 1;
  if (r->closed) free(r);
}

/*
 * receive(fd, bytes, lengths: Uint32Array, addresses, slot, onBatch(count)):
 * reads fd's datagrams from now on, datagram i at bytes[i*slot], its length
 * in lengths[i] (0: truncated), its sender in addresses[i] (an address_t).
 * Returns a handle for stopReceiving.
 */
napi_value udp_receive(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  uint32_t slot;
  void *bytes, *lengths, *addresses;
  size_t bytes_len, lengths_len, addresses_len;
  if (argc < 6 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || get_buffer(env, argv[1], &bytes, &bytes_len) ||
      get_buffer(env, argv[2], &lengths, &lengths_len) || get_buffer(env, argv[3], &addresses, &addresses_len) ||
      napi_get_value_uint32(env, argv[4], &slot) != napi_ok || slot == 0) {
    napi_throw_type_error(env, NULL, "receive(fd, bytes, lengths, addresses, slot, onBatch)");
    return NULL;
  }
  uint32_t slots = (uint32_t)(bytes_len / slot);
  if (lengths_len / 4 < slots) slots = (uint32_t)(lengths_len / 4);
  if (addresses_len / sizeof(address_t) < slots) slots = (uint32_t)(addresses_len / sizeof(address_t));
  if (slots == 0) {
    napi_throw_range_error(env, NULL, "no room for a datagram");
    return NULL;
  }
  /* Close-on-exec, as Node's own: a child process (ffmpeg, a browser) must not keep the port open after the server closes it. */
  int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  receiver_t *r = calloc(1, sizeof *r);
  r->fd = dup_fd;
  r->env = env;
  r->bytes = bytes;
  r->slot = slot;
  r->lengths = lengths;
  r->addresses = addresses;
  r->slots = slots;
  /* The buffers are JavaScript's: referenced here so they outlive every read into them. */
  for (int i = 0; i < 3; i++) CHECK(napi_create_reference(env, argv[1 + i], 1, &r->buffers[i]));
  CHECK(napi_create_reference(env, argv[5], 1, &r->callback));
  napi_value name;
  CHECK(napi_create_string_utf8(env, "UdpReceive", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, NULL, name, &r->async));
  if (uv_poll_init(loop, &r->poll, dup_fd) != 0) {
    close(dup_fd);
    for (int i = 0; i < 3; i++) napi_delete_reference(env, r->buffers[i]);
    napi_delete_reference(env, r->callback);
    napi_async_destroy(env, r->async);
    free(r);
    napi_throw_error(env, NULL, "uv_poll_init failed");
    return NULL;
  }
  r->poll.data = r;
  uv_poll_start(&r->poll, UV_READABLE, on_readable);
  napi_value handle;
  CHECK(napi_create_external(env, r, finalize_receiver, NULL, &handle));
  return handle;
}

/* stopReceiving(handle): no more reads; the dup'ed descriptor is closed. */
napi_value udp_stop_receiving(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  receiver_t *r;
  if (argc < 1 || napi_get_value_external(env, argv[0], (void **)&r) != napi_ok) {
    napi_throw_type_error(env, NULL, "stopReceiving(handle)");
    return NULL;
  }
  receiver_stop(r);
  return NULL;
}
