-- The ledger of report emails: one row per delivery attempt (a call that sends or writes the
-- email of a period). A 'sent' or 'written' row means the period's email went out; a
-- 'pending' row is an attempt whose outcome is unknown (interrupted, or the connection was
-- lost after the message was sent); a 'failed' row was refused or never reached a server.
-- Idempotent.
create sequence if not exists deliveries_id start 1;

create table if not exists deliveries (
    id bigint primary key default nextval('deliveries_id'),
    period varchar not null,
    message_id varchar not null,
    content_hash varchar not null,
    recipients varchar not null,
    status varchar not null check (status in ('pending', 'sent', 'failed', 'written')),
    attempts integer not null,
    last_error varchar,
    created_at timestamp not null,
    sent_at timestamp,
    forced boolean not null
);
