"""A TCP relay between Kafka clients and a broker that drops the tagged
fields from ApiVersions responses (v3 and later), and passes every other
byte through unchanged.

librdkafka 2.0.2 (Debian 12's kcat) skips each tagged field one byte short,
so it cannot parse the ApiVersions response of a broker that sends any
(tansu sends four: SupportedFeatures, FinalizedFeaturesEpoch,
FinalizedFeatures, ZkMigrationReady) and never gets past "ApiVersionRequest
failed: Local: Read underflow". librdkafka reads none of those fields.

    python3 apiversions_shim.py LISTEN_PORT BROKER_HOST BROKER_PORT

Listens on 127.0.0.1:LISTEN_PORT; the broker must advertise that address,
so that every connection of the client goes through here.
"""

import socket
import struct
import sys
import threading

API_VERSIONS = 18


def uvarint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def skip_tags(buf, i):
    count, i = uvarint(buf, i)
    for _ in range(count):
        _, i = uvarint(buf, i)
        size, i = uvarint(buf, i)
        i += size
    return i


def without_tags(frame):
    """An ApiVersions v3+ response with empty tagged fields. The response
    header stays v0 (correlation id only), as the protocol has it for
    ApiVersions; the body is error_code, a compact array of (api_key,
    min_version, max_version, tags), throttle_time_ms and tags."""
    i = 4 + 2
    count, i = uvarint(frame, i)
    out = bytearray(frame[:i])
    for _ in range(count - 1):
        out += frame[i:i + 6]
        i = skip_tags(frame, i + 6)
        out += b"\x00"
    out += frame[i:i + 4]
    out += b"\x00"
    return bytes(out)


def read_exactly(sock, n):
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(min(1 << 16, n - len(data)))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def read_frame(sock):
    head = read_exactly(sock, 4)
    if head is None:
        return None
    return read_exactly(sock, struct.unpack(">i", head)[0])


def relay(src, dst, asked, lock, from_broker):
    try:
        while True:
            frame = read_frame(src)
            if frame is None:
                break
            if from_broker:
                corr = struct.unpack(">i", frame[:4])[0]
                with lock:
                    hit = corr in asked
                    asked.discard(corr)
                if hit:
                    frame = without_tags(frame)
            else:
                key, version, corr = struct.unpack(">hhi", frame[:8])
                if key == API_VERSIONS and version >= 3:
                    with lock:
                        asked.add(corr)
            dst.sendall(struct.pack(">i", len(frame)) + frame)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def main():
    listen_port, host, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", listen_port))
    server.listen(64)
    while True:
        client, _ = server.accept()
        try:
            broker = socket.create_connection((host, port))
        except OSError:
            client.close()
            continue
        asked, lock = set(), threading.Lock()
        for args in ((client, broker, asked, lock, False), (broker, client, asked, lock, True)):
            threading.Thread(target=relay, args=args, daemon=True).start()


if __name__ == "__main__":
    main()
