-- onecharge schema. Applied by server/postgres.Open with jackc/tern; the
-- version lives in public.onecharge_schema_version.

-- The catalog. Prices are minor units (cents); inactive products are not sold.
create table products (
    id          text primary key,
    name        text not null,
    unit_amount bigint not null check (unit_amount >= 0),
    currency    text not null,
    active      boolean not null default true
);

-- One cart row per user, exactly as shops already have it. Writes are
-- INSERT ... ON CONFLICT (user_id) DO UPDATE, never check-then-insert.
-- items is a JSON array of {"product_id","quantity"}.
create table carts (
    id         uuid primary key default gen_random_uuid(),
    user_id    uuid not null,
    session_id text,
    items      jsonb not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint carts_user_id_unique unique (user_id)
);

create index carts_session_id_idx on carts (session_id) where session_id is not null;

-- One row per idempotency key: its owner and payment method, the order
-- snapshot of its latest validation (items is a JSON array of priced lines),
-- the creation parameters of its PaymentIntent and the PaymentIntent itself.
-- locked_at is set while a request holds the key.
create table idempotency_keys (
    key               text primary key,
    user_id           uuid not null,
    payment_method    text not null,
    items             jsonb not null,
    amount            bigint not null,
    currency          text not null,
    create_amount     bigint not null,
    create_currency   text not null,
    payment_intent_id text constraint idempotency_keys_payment_intent_id_unique unique,
    client_secret     text not null default '',
    pi_status         text not null default '',
    pi_amount         bigint not null default 0,
    pi_currency       text not null default '',
    locked_at         timestamptz,
    created_at        timestamptz not null,
    last_used_at      timestamptz not null,
    synced_at         timestamptz,
    webhook_seen_at   timestamptz
);

create index idempotency_keys_user_id_idx on idempotency_keys (user_id);

-- One order per PaymentIntent (or per Checkout Session when Stripe sent no
-- PaymentIntent id); items is a JSON array of priced lines.
create table orders (
    id                  bigint generated always as identity primary key,
    payment_intent_id   text not null constraint orders_payment_intent_id_unique unique,
    user_id             uuid not null,
    amount              bigint not null,
    currency            text not null,
    items               jsonb not null,
    checkout_session_id text,
    created_at          timestamptz not null default now()
);

create index orders_user_id_idx on orders (user_id);

-- Stripe events already applied: each event id is handled at most once.
create table stripe_events (
    id          text primary key,
    type        text not null,
    received_at timestamptz not null default now()
);

---- create above / drop below ----

drop table stripe_events;
drop table orders;
drop table idempotency_keys;
drop table carts;
drop table products;
