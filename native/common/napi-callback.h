/*
 * Calls a JavaScript function from a libuv callback (outside any JavaScript
 * frame): in its own handle scope, through napi_make_callback so that the
 * microtasks it queues run before we return, and with an exception it
 * throws reported as uncaught, as Node does for its own callbacks.
 */
#ifndef POLYCAST_NAPI_CALLBACK_H
#define POLYCAST_NAPI_CALLBACK_H
#include <node_api.h>

static inline void call_js_u32(napi_env env, napi_async_context async, napi_ref fn, size_t argc, const uint32_t *values) {
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, global, argv[4];
  napi_get_reference_value(env, fn, &cb);
  napi_get_global(env, &global);
  if (argc > 4) argc = 4;
  for (size_t i = 0; i < argc; i++) napi_create_uint32(env, values[i], &argv[i]);
  if (napi_make_callback(env, async, global, cb, argc, argv, NULL) == napi_pending_exception) {
    napi_value e;
    napi_get_and_clear_last_exception(env, &e);
    napi_fatal_exception(env, e);
  }
  napi_close_handle_scope(env, scope);
}

#endif
