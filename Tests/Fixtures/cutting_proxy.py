"""A loopback HTTP proxy in front of a real server that cuts off downloads midway, as a server
stopped or a network dropped in the middle of a transfer would: for the first CUTS responses to
requests whose path contains MATCH, it forwards only the first BYTES bytes and then closes the
connection. Everything else passes through unchanged. One request per connection (it asks both
sides for Connection: close), so every request is seen.

usage: cutting_proxy.py TARGET_PORT --match /mlflow-artifacts/artifacts/ --bytes 600 --cuts 1
Prints "listening PORT" once ready, then "cut PATH" for each response it cut."""
import argparse
import asyncio
import sys

parser = argparse.ArgumentParser()
parser.add_argument("target_port", type=int)
parser.add_argument("--match", default="/mlflow-artifacts/artifacts/")
parser.add_argument("--bytes", type=int, default=600)
parser.add_argument("--cuts", type=int, default=1, help="responses to cut; -1 cuts all")
a = parser.parse_args()
remaining = a.cuts


async def handle(client_reader, client_writer):
    global remaining
    try:
        head = await client_reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        client_writer.close()
        return
    lines = head.decode("latin-1").split("\r\n")
    path = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else ""
    kept = [line for line in lines[1:] if line and not line.lower().startswith("connection:")]
    length = next((int(line.split(":", 1)[1]) for line in kept if line.lower().startswith("content-length:")), 0)
    body = await client_reader.readexactly(length) if length else b""
    request = "\r\n".join([lines[0]] + kept + ["Connection: close", "", ""]).encode("latin-1") + body
    server_reader, server_writer = await asyncio.open_connection("127.0.0.1", a.target_port)
    server_writer.write(request)
    await server_writer.drain()
    cut = a.match in path and remaining != 0
    if cut and remaining > 0:
        remaining -= 1
    sent = 0
    while True:
        chunk = await server_reader.read(65536)
        if not chunk:
            break
        if cut and sent + len(chunk) >= a.bytes:
            client_writer.write(chunk[: a.bytes - sent])
            await client_writer.drain()
            print(f"cut {path}", flush=True)
            break
        client_writer.write(chunk)
        await client_writer.drain()
        sent += len(chunk)
    server_writer.close()
    client_writer.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
