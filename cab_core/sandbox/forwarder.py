"""Relay 127.0.0.1:PORT inside a network-less sandbox to the recording proxy's Unix socket.

Run inside the sandbox as ``python -I forwarder.py PORT SOCKET -- ARGV...``: it listens
on the sandbox's own loopback, starts ARGV as its child, relays every connection to
the socket until the child exits, and exits with the child's status.  Standard
library only, so it runs under any Python the sandbox can see.

The listening socket is bound before anything else, so connections queue in the
kernel from the start; asyncio is imported only by the relay process, in parallel
with the agent's own start-up rather than before it.
"""

import os
import signal
import socket
import sys


def _relay(sock, path):
    import asyncio

    async def pipe(reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def handle(reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(path)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def serve():
        server = await asyncio.start_server(handle, sock=sock)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


def main(argv):
    port, path = int(argv[0]), argv[1]
    command = argv[3:] if argv[2] == "--" else argv[2:]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    relay = os.fork()
    if relay == 0:
        try:
            _relay(sock, path)
        finally:
            os._exit(0)
    sock.close()
    child = os.fork()
    if child == 0:
        try:
            os.execvp(command[0], command)
        except OSError as exc:
            sys.stderr.write(f"cab: cannot start {command[0]}: {exc}\n")
        os._exit(127)
    _, status = os.waitpid(child, 0)
    os.kill(relay, signal.SIGKILL)
    code = os.waitstatus_to_exitcode(status)
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main(sys.argv[1:])
