"""A real SMTP server for tests: an aiosmtpd handler that records what it accepted."""

import socket
from dataclasses import dataclass, field


@dataclass
class Recorder:
    """An aiosmtpd handler: answers DATA with the queued replies, then '250 OK', and keeps
    every accepted (mail_from, rcpt_tos, content)."""

    replies: list[str] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    drop_connection: bool = False
    received: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    data_calls: int = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        """Refuse the addresses in `refuse`, accept the others."""
        if address in self.refuse:
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        """Accept the message (or answer with the next queued reply)."""
        self.data_calls += 1
        reply = self.replies.pop(0) if self.replies else "250 OK"
        if reply.startswith("250"):
            self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        if self.drop_connection:
            # The server has the message, but the client never hears that it was accepted.
            server.transport.close()
        return reply


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
