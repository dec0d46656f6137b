/*
 * One non-blocking gather write on a stream socket's descriptor, for the
 * WebSocket fan-out (src/web/socket-output.ts): a frame goes to each of
 * hundreds of viewers as one sendmsg(2), without the JavaScript write
 * request, stream bookkeeping and completion callback that Node's
 * net.Socket spends on every write. The caller uses it only while Node has
 * nothing queued on that socket, so bytes stay in order; whatever the
 * kernel does not take, it hands to Node's own write.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <node_api.h>
#include "../common/napi-check.h"
#include "send_many.h"


static int chunk_of(napi_env env, napi_value v, struct iovec *iov) {
  bool is_typed = false;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed) return 0;
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  napi_value buffer;
  size_t offset = 0;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, &buffer, &offset) != napi_ok) return 0;
  if (type != napi_uint8_array) return 0;
  iov->iov_base = data;
  iov->iov_len = length;
  return 1;
}

/*
 * sendv(fd: number, chunks: Uint8Array | Uint8Array[]): bytes the kernel
 * took (possibly fewer than given, 0 when its buffer is full), or -errno.
 */
static napi_value sendv(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd = -1;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "sendv(fd, chunks): fd must be a descriptor");
    return NULL;
  }
  struct iovec iov[MAX_CHUNKS];
  size_t count = 0;
  bool is_array = false;
  CHECK(napi_is_array(env, argv[1], &is_array));
  if (is_array) {
    uint32_t n = 0;
    CHECK(napi_get_array_length(env, argv[1], &n));
    for (uint32_t i = 0; i < n && count < MAX_CHUNKS; i++) {
      napi_value el;
      CHECK(napi_get_element(env, argv[1], i, &el));
      if (!chunk_of(env, el, &iov[count])) {
        napi_throw_type_error(env, NULL, "sendv(fd, chunks): chunks must be Uint8Arrays");
        return NULL;
      }
      if (iov[count].iov_len > 0) count++;
    }
  } else if (chunk_of(env, argv[1], &iov[0])) {
    count = iov[0].iov_len > 0 ? 1 : 0;
  } else {
    napi_throw_type_error(env, NULL, "sendv(fd, chunks): chunks must be a Uint8Array or an array of them");
    return NULL;
  }
  double result = count > 0 ? send_gather(fd, iov, count) : 0;
  napi_value out;
  CHECK(napi_create_double(env, result, &out));
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"sendv", NULL, sendv, NULL, NULL, NULL, napi_default_method, NULL},
      {"sendMany", NULL, send_many, NULL, NULL, NULL, napi_default_method, NULL},
      {"sendThreads", NULL, send_threads, NULL, NULL, NULL, napi_default_method, NULL},
  };
  CHECK(napi_define_properties(env, exports, 3, props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
