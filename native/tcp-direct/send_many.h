/* What tcp_direct.c and send_many.c share: the gather write, and sendMany/sendThreads (send_many.c) for tcp_direct.c's module. */
#ifndef POLYCAST_SEND_MANY_H
#define POLYCAST_SEND_MANY_H
#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <node_api.h>

/* A viewer's chunks in one call: a corked burst longer than this is cut, and the rest goes through Node. */
#define MAX_CHUNKS 64

/*
 * One non-blocking gather write: the bytes the kernel took, 0 when its
 * buffer is full, or -errno. MSG_NOSIGNAL: a peer that went away is an
 * EPIPE to report, not a signal.
 */
static inline double send_gather(int fd, struct iovec *iov, size_t count) {
  struct msghdr msg = {0};
  msg.msg_iov = iov;
  msg.msg_iovlen = count;
  ssize_t sent;
  do sent = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (sent < 0 && errno == EINTR);
  if (sent >= 0) return (double)sent;
  if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
  return -(double)errno;
}

napi_value send_many(napi_env env, napi_callback_info info);
napi_value send_threads(napi_env env, napi_callback_info info);

#endif
