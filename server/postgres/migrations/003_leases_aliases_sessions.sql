-- Issue 9: what is paid is what is recorded.
--
-- Keys are held by leases (a fencing token and its expiry) instead of a
-- lock timestamp, and keep the order of an amount update that Stripe may
-- have applied (pending_*). Aliases bind a user's first-call nonce to the
-- key it was issued, and a rotated key to its one successor. Hosted
-- Checkout Sessions are stored with their own lines; a user's checkouts
-- are serialized by a lease on the cart row. Orders carry a status
-- (needs_review when the payment matches no bound order) and belong to a
-- PaymentIntent, a Checkout Session, or both.

alter table idempotency_keys
    drop column locked_at,
    add column lock_token text,
    add column lease_until timestamptz,
    add column pending_items jsonb,
    add column pending_amount bigint,
    add column pending_currency text;

create index idempotency_keys_last_used_at_idx on idempotency_keys (last_used_at);

create table key_aliases (
    user_id    uuid not null,
    alias      text not null,
    key        text not null,
    created_at timestamptz not null,
    primary key (user_id, alias)
);

create index key_aliases_created_at_idx on key_aliases (created_at);

create table checkout_sessions (
    id         text primary key,
    -- seq orders a user's sessions: the newest one derives the Stripe
    -- Idempotency-Key of the next checkout.
    seq        bigint generated always as identity,
    user_id    uuid not null,
    url        text not null default '',
    items      jsonb not null,
    amount     bigint not null,
    currency   text not null,
    status     text not null constraint checkout_sessions_status_check
                   check (status in ('open', 'complete', 'expired')),
    created_at timestamptz not null
);

create index checkout_sessions_user_id_idx on checkout_sessions (user_id, seq desc);

drop index carts_session_id_idx;
alter table carts
    drop column session_id,
    add column checkout_token text,
    add column checkout_lease_until timestamptz;

alter table orders
    add column status text not null default 'paid'
        constraint orders_status_check check (status in ('paid', 'needs_review')),
    alter column payment_intent_id drop not null;

-- Orders of hosted checkouts that Stripe sent without a PaymentIntent
-- carried the session id in payment_intent_id.
update orders
   set checkout_session_id = payment_intent_id, payment_intent_id = null
 where payment_intent_id like 'cs\_%';

alter table orders
    add constraint orders_checkout_session_id_unique unique (checkout_session_id),
    add constraint orders_paid_for_check check (payment_intent_id is not null or checkout_session_id is not null);

create index stripe_events_received_at_idx on stripe_events (received_at);

---- create above / drop below ----

drop index stripe_events_received_at_idx;
alter table orders
    drop constraint orders_paid_for_check,
    drop constraint orders_checkout_session_id_unique;
update orders set payment_intent_id = checkout_session_id where payment_intent_id is null;
alter table orders
    alter column payment_intent_id set not null,
    drop column status;
alter table carts
    drop column checkout_lease_until,
    drop column checkout_token,
    add column session_id text;
create index carts_session_id_idx on carts (session_id) where session_id is not null;
drop table checkout_sessions;
drop table key_aliases;
drop index idempotency_keys_last_used_at_idx;
alter table idempotency_keys
    drop column pending_currency,
    drop column pending_amount,
    drop column pending_items,
    drop column lease_until,
    drop column lock_token,
    add column locked_at timestamptz;
