{
  "targets": [
    {
      "target_name": "quic_ngtcp2",
      "sources": ["quic_conn.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lngtcp2", "-lngtcp2_crypto_gnutls", "-lgnutls"]
    }
  ]
}
