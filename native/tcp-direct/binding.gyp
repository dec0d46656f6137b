{
  "targets": [
    {
      "target_name": "tcp_direct",
      "sources": ["tcp_direct.c", "send_many.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-pthread"],
      "ldflags": ["-pthread"]
    }
  ]
}
