"""Delivering a client report by email, exactly once per period: the MIME message
(`message`), the ledger of deliveries in the client's warehouse (`ledger`), and sending it over
SMTP or writing it to the outbox (`smtp`)."""
