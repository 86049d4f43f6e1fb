-- The notifier's outcome records and delivery dead letters, written in the transaction that changes the
-- delivery row they report (sent, failed, an attempt to retry, digested) and published by its relay,
-- which deletes them once Kafka acknowledged them. Before, they were published after the commit and
-- lost for good when Kafka failed in between. What is left here is what Kafka has not acknowledged.
CREATE TABLE notifier_outbox (
    id          bigserial PRIMARY KEY,
    topic       text NOT NULL,
    key         text,
    value       text NOT NULL,              -- JSON text, published as it is: a republish is the same bytes
    headers     text NOT NULL DEFAULT '{}', -- a JSON object of text headers
    created_at  timestamptz NOT NULL DEFAULT now()
);
