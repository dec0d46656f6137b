/* Batched UDP input (udp_receive.c), exported by the addon beside the batched output of udp_batch.c. */
#ifndef POLYCAST_UDP_RECEIVE_H
#define POLYCAST_UDP_RECEIVE_H
#include <node_api.h>

napi_value udp_receive(napi_env env, napi_callback_info info);
napi_value udp_stop_receiving(napi_env env, napi_callback_info info);

#endif
