/*
 * Batched UDP output for the QUIC server (input is in udp_receive.c): one sendmmsg(2) for every packet a
 * connection has ready, with runs of equal-sized packets merged into one
 * UDP_SEGMENT (GSO) message, so the kernel segments them instead of taking
 * one syscall and one socket lookup each. Node's dgram has neither.
 *
 * It writes on the file descriptor of Node's own UDP socket; it never
 * blocks (the socket is non-blocking) and reports how many packets left, so
 * the caller hands the rest to dgram when the send buffer is full.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>
#include <node_api.h>
#include "../common/address.h"
#include "../common/napi-check.h"
#include "udp_receive.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

/* Linux caps a GSO send at 64 segments and an IP datagram at 64 KiB. */
#define MAX_SEGMENTS 64
#define MAX_GSO_BYTES 65000
#define MAX_MESSAGES 256


static int gso_enabled = 1;

/* address(host: string, port: number): Buffer holding a sockaddr for send(). */
static napi_value make_address(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char host[64];
  size_t host_len = 0;
  uint32_t port = 0;
  CHECK(napi_get_value_string_utf8(env, argv[0], host, sizeof host, &host_len));
  CHECK(napi_get_value_uint32(env, argv[1], &port));
  address_t a;
  memset(&a, 0, sizeof a);
  const char *h = host;
  /* Node reports IPv4-mapped peers of a dual-stack socket as ::ffff:a.b.c.d; those stay IPv6. */
  if (inet_pton(AF_INET, h, &a.u.v4.sin_addr) == 1 && strchr(h, ':') == NULL) {
    a.u.v4.sin_family = AF_INET;
    a.u.v4.sin_port = htons((uint16_t)port);
    a.len = sizeof a.u.v4;
  } else if (inet_pton(AF_INET6, h, &a.u.v6.sin6_addr) == 1) {
    a.u.v6.sin6_family = AF_INET6;
    a.u.v6.sin6_port = htons((uint16_t)port);
    a.len = sizeof a.u.v6;
  } else {
    napi_throw_type_error(env, NULL, "not an IP address");
    return NULL;
  }
  void *data;
  napi_value out;
  CHECK(napi_create_buffer_copy(env, sizeof a, &a, &data, &out));
  return out;
}

/*
 * send(fd, bytes: Uint8Array, lengths: Uint32Array, count, address: Buffer)
 * → packets sent (0..count), or −errno when not even the first could go.
 * The packets lie back to back in `bytes`.
 */
static napi_value send_batch(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) {
    napi_throw_type_error(env, NULL, "send(fd, bytes, lengths, count, address)");
    return NULL;
  }
  int32_t fd;
  uint32_t count;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  CHECK(napi_get_value_uint32(env, argv[3], &count));

  napi_typedarray_type type;
  size_t byte_len, len_count, offset;
  void *bytes_data, *lens_data;
  napi_value ab;
  CHECK(napi_get_typedarray_info(env, argv[1], &type, &byte_len, &bytes_data, &ab, &offset));
  CHECK(napi_get_typedarray_info(env, argv[2], &type, &len_count, &lens_data, &ab, &offset));
  if (type != napi_uint32_array || count > len_count) {
    napi_throw_type_error(env, NULL, "lengths must be a Uint32Array of at least count entries");
    return NULL;
  }
  /* One address for every packet, or one per packet (a batch spanning several connections). */
  address_t *addr;
  size_t addr_len;
  CHECK(napi_get_buffer_info(env, argv[4], (void **)&addr, &addr_len));
  int per_packet = addr_len != sizeof(address_t);
  if (per_packet && addr_len < count * sizeof(address_t)) {
    napi_throw_type_error(env, NULL, "address must come from address(), or hold one address per packet");
    return NULL;
  }
  const uint32_t *lens = lens_data;
  const uint8_t *bytes = bytes_data;

  size_t total = 0;
  for (uint32_t i = 0; i < count; i++) total += lens[i];
  if (total > byte_len) {
    napi_throw_range_error(env, NULL, "lengths exceed the bytes given");
    return NULL;
  }

  struct mmsghdr msgs[MAX_MESSAGES];
  struct iovec iovs[MAX_MESSAGES];
  /* Packets carried by each message, to turn messages sent back into packets sent. */
  uint32_t packets_in[MAX_MESSAGES];
  union {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
  } ctrl[MAX_MESSAGES];

  uint32_t sent_packets = 0;
  size_t pos = 0;
  uint32_t i = 0;
  while (i < count) {
    unsigned n = 0;
    uint32_t first = i;
    size_t batch_pos = pos;
    while (i < count && n < MAX_MESSAGES) {
      uint32_t seg = lens[i];
      uint32_t k = 1;
      size_t run = seg;
      if (gso_enabled) {
        /* Equal sizes, and at most one shorter packet closing the run. */
        while (i + k < count && k < MAX_SEGMENTS && run + lens[i + k] <= MAX_GSO_BYTES && lens[i + k] <= seg &&
               (!per_packet || memcmp(&addr[i], &addr[i + k], sizeof(address_t)) == 0)) {
          run += lens[i + k];
          k++;
          if (lens[i + k - 1] < seg) break;
        }
      }
      memset(&msgs[n], 0, sizeof msgs[n]);
      iovs[n].iov_base = (void *)(bytes + pos);
      iovs[n].iov_len = run;
      const address_t *to = per_packet ? &addr[i] : addr;
      msgs[n].msg_hdr.msg_name = (void *)&to->u;
      msgs[n].msg_hdr.msg_namelen = to->len;
      msgs[n].msg_hdr.msg_iov = &iovs[n];
      msgs[n].msg_hdr.msg_iovlen = 1;
      if (k > 1) {
        msgs[n].msg_hdr.msg_control = ctrl[n].buf;
        msgs[n].msg_hdr.msg_controllen = sizeof ctrl[n].buf;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msgs[n].msg_hdr);
        cm->cmsg_level = SOL_UDP;
        cm->cmsg_type = UDP_SEGMENT;
        cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t s = (uint16_t)seg;
        memcpy(CMSG_DATA(cm), &s, sizeof s);
      }
      packets_in[n] = k;
      pos += run;
      i += k;
      n++;
    }
    unsigned done = 0;
    while (done < n) {
      int r = sendmmsg(fd, msgs + done, n - done, MSG_DONTWAIT);
      if (r < 0) {
        int e = errno;
        if (e == EINTR) continue;
        if ((e == EIO || e == EINVAL || e == ENOPROTOOPT || e == EOPNOTSUPP) && gso_enabled && msgs[done].msg_hdr.msg_controllen != 0) {
          /* The device or kernel cannot segment: plain messages from now on, and rebuild this batch. */
          gso_enabled = 0;
          i = first;
          pos = batch_pos;
          for (unsigned m = 0; m < done; m++) {
            i += packets_in[m];
            pos += iovs[m].iov_len;
          }
          goto next_batch;
        }
        napi_value out;
        CHECK(napi_create_int32(env, sent_packets > 0 ? (int32_t)sent_packets : -e, &out));
        return out;
      }
      for (int m = 0; m < r; m++) sent_packets += packets_in[done + m];
      done += (unsigned)r;
    }
    first = i;
  next_batch:;
  }
  napi_value out;
  CHECK(napi_create_uint32(env, sent_packets, &out));
  return out;
}

static napi_value gso_state(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  CHECK(napi_get_boolean(env, gso_enabled != 0, &out));
  return out;
}

static napi_value set_gso(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  bool on;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_value_bool(env, argv[0], &on));
  gso_enabled = on ? 1 : 0;
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"address", NULL, make_address, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, send_batch, NULL, NULL, NULL, napi_default, NULL},
      {"gso", NULL, gso_state, NULL, NULL, NULL, napi_default, NULL},
      {"setGso", NULL, set_gso, NULL, NULL, NULL, napi_default, NULL},
      {"receive", NULL, udp_receive, NULL, NULL, NULL, napi_default, NULL},
      {"stopReceiving", NULL, udp_stop_receiving, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
