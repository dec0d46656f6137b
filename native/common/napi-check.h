/* CHECK(call): a failed N-API call throws in JavaScript and returns NULL from the calling napi_callback. */
#ifndef POLYCAST_NAPI_CHECK_H
#define POLYCAST_NAPI_CHECK_H
#include <node_api.h>

#define CHECK(call)                                  \
  do {                                               \
    if ((call) != napi_ok) {                         \
      napi_throw_error(env, NULL, #call " failed"); \
      return NULL;                                   \
    }                                                \
  } while (0)

#endif
