"""Wait until a URL answers 200, or fail after a number of seconds: `wait_http.py URL SECONDS`."""

import sys
import time
import urllib.request

url, seconds = sys.argv[1], float(sys.argv[2])
deadline = time.monotonic() + seconds
last: object = "no answer yet"
while True:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 (loopback only)
            if response.status == 200:
                print(f"{url} answers 200")
                sys.exit(0)
    except Exception as exc:
        last = exc
    if time.monotonic() > deadline:
        sys.exit(f"{url} did not answer 200 within {seconds:.0f} s: {last}")
    time.sleep(1)
