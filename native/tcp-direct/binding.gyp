{
  "targets": [
    {
      "target_name": "tcp_direct",
      "sources": ["tcp_direct.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
