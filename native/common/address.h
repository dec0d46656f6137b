/*
 * A peer's socket address as the native helpers pass it between themselves
 * and JavaScript: address() of native/udp-batch builds it, send() of the same
 * helper and the QUIC connections of native/quic-ngtcp2 take it as is.
 */
#ifndef POLYCAST_ADDRESS_H
#define POLYCAST_ADDRESS_H
#include <netinet/in.h>
#include <sys/socket.h>

typedef struct {
  union {
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
  } u;
  socklen_t len;
} address_t;

#endif
