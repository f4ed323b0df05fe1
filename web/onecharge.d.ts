// TypeScript declarations for globalThis.onecharge, the browser API of
// onecharge (CONTRACT.md section 6), loaded by onecharge.js. Reference it
// with /// <reference path="onecharge.d.ts" /> or list it in tsconfig.
//
// Until `onecharge.ready` resolves, only `ready` exists on the object: call
// the functions on the value `ready` resolves with, or after awaiting it.
//
// Whenever the stored key changes, in this tab or in another tab of the
// origin, the module dispatches the event 'onecharge:keychange' on window
// (a CustomEvent whose detail is Onecharge.KeyChangeDetail):
//
//   addEventListener('onecharge:keychange', (e) => show(e.detail.key));

declare namespace Onecharge {
  /** How the shopper pays. Only CARD and CARD_TEST carry an idempotency key. */
  type PaymentMethod = 'CARD' | 'CARD_TEST' | 'CASH_ON_DELIVERY';

  /** One requested cart line. */
  interface Item {
    product_id: string;
    /** 1..99 */
    quantity: number;
  }

  /** The body of POST /api/orders/validate, as the page passes it. */
  interface ValidateRequest {
    /** 1..50 lines, each product at most once. */
    items: Item[];
    payment_method: PaymentMethod;
    email?: string;
    /**
     * Ignored: the module sends the key it stores itself. Use
     * setIdempotencyKey to hand it a key.
     */
    idempotency_key?: string;
  }

  /** One priced line; prices come from the server's catalog. */
  interface Line {
    product_id: string;
    name: string;
    quantity: number;
    /** Minor units (cents). */
    unit_amount: number;
  }

  interface Order {
    items: Line[];
    /** Minor units (cents). */
    amount: number;
    currency: string;
  }

  interface PaymentIntent {
    id: string;
    client_secret: string;
    status: string;
    amount: number;
    currency: string;
  }

  /** The 200 body of POST /api/orders/validate. */
  interface ValidateResponse {
    order: Order;
    payment_method: PaymentMethod;
    /** CARD and CARD_TEST only; already stored by the module. */
    idempotency_key?: string;
    /** CARD and CARD_TEST only. */
    payment_intent?: PaymentIntent;
  }

  /** Which message the page should show. */
  type RejectionKind =
    /** The payment of this checkout already completed; start a new order. */
    | 'already_completed'
    /** Codes payment_unavailable and payment_intent_failed. */
    | 'payment_unavailable'
    /** Any other 4xx: the request itself is wrong. */
    | 'validation'
    /** Network errors, 5xx after the retries, unreadable responses. */
    | 'generic';

  type RejectionCode =
    | 'invalid_request'
    | 'request_too_large'
    | 'unsupported_media_type'
    | 'invalid_items'
    | 'invalid_payment_method'
    | 'payment_already_completed'
    | 'request_in_progress'
    | 'payment_unavailable'
    | 'payment_intent_failed'
    | 'internal'
    /** No response was received (status 0). */
    | 'network_error'
    /** The response body was not the expected JSON. */
    | 'unexpected_response'
    | 'canceled'
    | (string & {});

  /** What validateCartItems rejects with: a plain object, not an Error. */
  interface Rejection {
    kind: RejectionKind;
    code: RejectionCode;
    /** Safe to show to the shopper. */
    message: string;
    /** HTTP status of the last response; 0 when there was none. */
    status: number;
  }

  /** The detail of the 'onecharge:keychange' event. */
  interface KeyChangeDetail {
    /** The stored key now, or null when there is none. */
    key: string | null;
  }

  interface ConfigureOptions {
    /** Prefix of API URLs; '' (the default) means the page's own origin. */
    baseURL?: string;
    /** Requests per validation, the first included; an integer >= 1 (default 4). */
    maxAttempts?: number;
  }

  interface API {
    /** Resolves with this object once the module has installed its functions. */
    readonly ready: Promise<API>;
    /** Optional; invalid values are ignored with a console warning. */
    configure(options?: ConfigureOptions): void;
    /**
     * Validates the cart with the server, sending the stored idempotency key
     * and retrying transient failures with it; stores the key the server
     * returns. Rejects with a Rejection.
     *
     * Validations run one at a time across all tabs of the origin (Web
     * Locks; where navigator.locks is missing, within this tab), and each
     * reads the stored key once it is its turn, so two tabs checking out at
     * once make one checkout. One without a stored key sends a random nonce
     * in the Idempotency-Key header, the same on each of its retries, so a
     * retry whose first response was lost gets the key already issued.
     */
    validateCartItems(request: ValidateRequest): Promise<ValidateResponse>;
    /** The stored key, or null. */
    getStoredIdempotencyKey(): string | null;
    /**
     * Stores key (a well-formed "ik_..." key; anything else is ignored with
     * a console warning). null or undefined clears the key.
     */
    setIdempotencyKey(key: string | null | undefined): void;
    clearIdempotencyKey(): void;
    /** Direct payment flow: the payment succeeded; clears the key. */
    paymentSucceeded(): void;
    /**
     * Redirect flow: clears the key and returns true when url (default
     * location.href) carries redirect_status=succeeded; false otherwise.
     */
    handleRedirectReturn(url?: string): boolean;
  }
}

declare var onecharge: Onecharge.API;

interface WindowEventMap {
  /** The stored idempotency key changed, in this tab or another one. */
  'onecharge:keychange': CustomEvent<Onecharge.KeyChangeDetail>;
}
