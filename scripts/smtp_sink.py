"""A loopback SMTP server for the notifiers tests (aiosmtpd). Prints {"port": N} once
listening on 127.0.0.1, then one JSON line per message received (envelope, and the data as a latin-1 string so
that every byte survives JSON).
Recipients starting with `reject` get a 550, those starting with `defer` a 451, those
starting with `slow` an answer 3 seconds late. Stops by
itself after the number of seconds given as first argument (default 60); listens on the port
given as second argument (default 0: any free port). The third argument, if any, is a mode:
`auth`: every message needs SMTP AUTH (PLAIN or LOGIN, allowed without TLS on loopback) as
`jalon` / `secret`; `starttls:CERT:KEY`: STARTTLS required, with that certificate and key;
`tls:CERT:KEY`: TLS from the first byte (SMTPS)."""
import asyncio
import json
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("reject"):
            return "550 5.1.1 No such mailbox"
        if address.startswith("defer"):
            return "451 4.3.0 Try again later"
        if address.startswith("slow"):
            await asyncio.sleep(3)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        print(json.dumps({
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": envelope.original_content.decode("latin-1"),
        }), flush=True)
        return "250 2.0.0 Ok: queued as 1"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login == b"jalon" and auth_data.password == b"secret")
    return AuthResult(success=ok, handled=False)


async def main():
    lifetime = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    mode = sys.argv[3] if len(sys.argv) > 3 else ""
    options, wrap = {}, None
    if mode == "auth":
        options = dict(authenticator=authenticator, auth_required=True, auth_require_tls=False)
    elif mode.startswith(("starttls:", "tls:")):
        kind, cert, key = mode.split(":", 2)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        if kind == "starttls":
            options = dict(tls_context=context, require_starttls=True)
        else:
            wrap = context
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(Handler(), hostname="sink.test", **options), "127.0.0.1", port, ssl=wrap)
    print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
    await asyncio.sleep(lifetime)
    server.close()


asyncio.run(main())
