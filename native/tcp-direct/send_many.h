/* sendMany and sendThreads (send_many.c), exported by tcp_direct.c's module. */
#ifndef POLYCAST_SEND_MANY_H
#define POLYCAST_SEND_MANY_H
#include <node_api.h>

napi_value send_many(napi_env env, napi_callback_info info);
napi_value send_threads(napi_env env, napi_callback_info info);

#endif
