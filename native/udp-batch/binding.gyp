{
  "targets": [
    {
      "target_name": "udp_batch",
      "sources": ["udp_batch.c", "udp_receive.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
