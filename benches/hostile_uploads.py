#!/usr/bin/env python3
"""Memory and liveness of the server under the hostile uploads of issue 19.

Starts `asl serve` (the given binary) on a free loopback port with the given model, sends
each hostile upload in turn while sampling the server's resident memory (/proc/PID/status)
and timing GET /health every 100 ms, and prints one row per upload: the answer, the peak RSS
above the idle server, and the slowest /health seen meanwhile. Standard library only.

    python3 benches/hostile_uploads.py --asl target/release/asl --model "$ASL_HOME/models/NAME"

Target (README): every upload answered with a JSON 4xx (or answered with the bad entry
skipped), peak RSS at most +256 MB, /health under 1 s throughout.
"""
import argparse
import http.client
import io
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import zipfile
import zlib


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width: int, height: int, colour: int = 0, extra: bytes = b"", rows: bool = True) -> bytes:
    """A PNG of zero pixels (grey when colour=0, RGB when 2); `rows=False` leaves the data out."""
    head = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)) + extra
    if rows:
        channels = 1 if colour == 0 else 3
        comp = zlib.compressobj(9)
        data = bytearray()
        row = b"\0" * (width * channels + 1)
        for _ in range(height):
            data += comp.compress(row)
        data += comp.flush()
        head += chunk(b"IDAT", bytes(data))
    return head + chunk(b"IEND", b"")


def iccp_bomb(inflated: int) -> bytes:
    comp = zlib.compressobj(9)
    block = b"\0" * (1 << 20)
    data = b"".join(comp.compress(block) for _ in range(inflated >> 20)) + comp.flush()
    return chunk(b"iCCP", b"bomb\0\0" + data)


def multipart(field: str, name: str, payload: bytes) -> tuple[bytes, str]:
    boundary = "hostile-7d1f"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + payload + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def zip_with_bad_entries(photo: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for n in ("1.jpg", "2.jpg", "3.jpg"):
            z.writestr(n, photo)
    data = bytearray(buf.getvalue())
    local = [i for i in range(len(data) - 4) if data[i:i + 4] == b"PK\x03\x04"]
    central = [i for i in range(len(data) - 4) if data[i:i + 4] == b"PK\x01\x02"]
    for at in (local[1] + 6, central[1] + 8):  # entry 2: encrypted flag
        data[at] |= 1
    for at in (local[2] + 8, central[2] + 10):  # entry 3: bzip2
        data[at:at + 2] = struct.pack("<H", 12)
    return bytes(data)


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port: int, body: bytes, ctype: str, timeout: float = 60) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("POST", "/predict", body=body, headers={"Content-Type": ctype})
    res = conn.getresponse()
    raw = res.read()
    try:
        return res.status, json.loads(raw)
    except ValueError:
        return res.status, {"raw": raw[:80].decode(errors="replace")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--asl", required=True, help="the asl binary")
    ap.add_argument("--model", required=True, help="a model folder")
    a = ap.parse_args()
    port = free_port()
    server = subprocess.Popen([a.asl, "serve", "--model", a.model, "--port", str(port), "--no-prediction-log"], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while True:
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/ready")
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    print("the server did not start", file=sys.stderr)
                    return 1
                time.sleep(0.2)
        time.sleep(1)
        # A real-looking photo: a small RGB PNG is enough for the zip case.
        photo = png(64, 64, colour=2)
        cases = [
            ("67,108,864 x 1 grey PNG", *multipart("image", "wide.png", png(67_108_864, 1))),
            ("2,097,152 x 32 grey PNG", *multipart("image", "thin.png", png(2_097_152, 32))),
            ("8,000 x 8,000 grey PNG (64 Mpx)", *multipart("image", "big.png", png(8_000, 8_000))),
            ("4,800 x 4,800 grey PNG (23 Mpx)", *multipart("image", "phone.png", png(4_800, 4_800))),
            ("1 x 1 PNG, iCCP inflating to 400 MB", *multipart("image", "icc.png", png(1, 1, extra=iccp_bomb(400 << 20)))),
            ("zip: encrypted + bzip2 entries", *multipart("zipfile", "word.zip", zip_with_bad_entries(photo))),
        ]
        print(f"asl serve (pid {server.pid}), idle RSS {rss_kb(server.pid) / 1024:.0f} MiB")
        print("| upload | bytes | status | answer | peak RSS over idle, MiB | slowest /health, ms | time, s |")
        print("|---|---:|---:|---|---:|---:|---:|")
        worst = 0.0
        for name, body, ctype in cases:
            base = rss_kb(server.pid)
            peak = [base]
            slowest = [0.0]
            done = threading.Event()

            def watch():
                while not done.is_set():
                    peak[0] = max(peak[0], rss_kb(server.pid))
                    t = time.perf_counter()
                    try:
                        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                        c.request("GET", "/health")
                        c.getresponse().read()
                    except OSError:
                        slowest[0] = max(slowest[0], 5000.0)
                    slowest[0] = max(slowest[0], (time.perf_counter() - t) * 1000)
                    time.sleep(0.1)

            watcher = threading.Thread(target=watch)
            watcher.start()
            t = time.perf_counter()
            status, answer = post(port, body, ctype)
            took = time.perf_counter() - t
            time.sleep(0.5)
            done.set()
            watcher.join()
            over = (peak[0] - base) / 1024
            worst = max(worst, over)
            what = answer.get("error") or (f"{len(answer.get('letters', []))} read, {len(answer.get('skipped', []))} skipped" if "letters" in answer else answer.get("class", "?"))
            print(f"| {name} | {len(body):,} | {status} | {what} | {over:.0f} | {slowest[0]:.0f} | {took:.2f} |")
        print(f"\nworst peak RSS over idle: {worst:.0f} MiB")
        return 0
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
