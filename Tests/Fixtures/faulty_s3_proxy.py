"""A loopback proxy in front of an S3-API server that fails a share of requests as a busy or
flaky store does: every EVERY-th request is answered 503 SlowDown (odd turns) or has its
connection dropped part-way through the answer (even turns); with --fail-after K every request
after the K-th is answered 503. One request per connection (Connection: close both ways), so
every request is seen. Request bodies are forwarded as they come (Content-Length).

usage: faulty_s3_proxy.py TARGET_PORT [--every 4] [--fail-after K]
Prints "listening PORT" once ready, then "503 METHOD PATH" or "drop METHOD PATH" per fault."""
import argparse
import asyncio

parser = argparse.ArgumentParser()
parser.add_argument("target_port", type=int)
parser.add_argument("--every", type=int, default=0, help="fail every N-th request (0: none)")
parser.add_argument("--fail-after", type=int, default=-1, help="answer 503 to every request after this many")
a = parser.parse_args()
count = 0
turn = 0

SLOW_DOWN = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>"
             b"<Message>Please reduce your request rate.</Message></Error>")


async def handle(client_reader, client_writer):
    global count, turn
    try:
        head = await client_reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        client_writer.close()
        return
    lines = head.decode("latin-1").split("\r\n")
    method, path = (lines[0].split(" ") + ["", ""])[:2]
    kept = [line for line in lines[1:] if line and not line.lower().startswith("connection:")]
    length = next((int(line.split(":", 1)[1]) for line in kept if line.lower().startswith("content-length:")), 0)
    body = await client_reader.readexactly(length) if length else b""
    count += 1
    fault = None
    if a.fail_after >= 0 and count > a.fail_after:
        fault = "503"
    elif a.every > 0 and count % a.every == 0:
        turn += 1
        fault = "503" if turn % 2 else "drop"
    if fault == "503":
        print(f"503 {method} {path}", flush=True)
        client_writer.write(b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nConnection: close\r\n"
                            + f"Content-Length: {len(SLOW_DOWN)}\r\n\r\n".encode() + SLOW_DOWN)
        await client_writer.drain()
        client_writer.close()
        return
    request = "\r\n".join([lines[0]] + kept + ["Connection: close", "", ""]).encode("latin-1") + body
    server_reader, server_writer = await asyncio.open_connection("127.0.0.1", a.target_port)
    server_writer.write(request)
    await server_writer.drain()
    sent = 0
    while True:
        chunk = await server_reader.read(65536)
        if not chunk:
            break
        if fault == "drop" and sent + len(chunk) > 200:
            # The status line and some headers or bytes, then the connection ends.
            client_writer.write(chunk[: max(0, 200 - sent)])
            await client_writer.drain()
            print(f"drop {method} {path}", flush=True)
            break
        client_writer.write(chunk)
        await client_writer.drain()
        sent += len(chunk)
    else:
        pass
    if fault == "drop" and sent <= 200:
        print(f"drop {method} {path}", flush=True)
    server_writer.close()
    client_writer.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
