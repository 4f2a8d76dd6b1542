"""Run a Proxy until killed: `python -m tests.relay BIND PORT TARGET_HOST TARGET_PORT` (the
half of tests.servers.Partition that lives inside the network namespace)."""

from __future__ import annotations

import sys
import threading

from tests.servers import Proxy

if __name__ == "__main__":
    bind, port, target_host, target_port = sys.argv[1:5]
    Proxy(int(target_port), target_host=target_host, bind=bind, port=int(port))
    threading.Event().wait()
