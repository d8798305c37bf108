// Types of possync.js (the possync JavaScript client). Message shapes follow
// protocol/asyncapi.yaml; unknown fields of an order are kept verbatim.

export type Status = 'sent' | 'received' | 'delivered' | 'rejected' | 'cancelled' | 'taken';
export type Mode = 'copy' | 'claim';
export type ConnectionState = 'idle' | 'connecting' | 'online' | 'offline' | 'unauthorized' | 'closed';
export type ErrorCode =
  | 'bad_json' | 'bad_request' | 'unauthorized' | 'forbidden' | 'not_found' | 'conflict'
  | 'too_large' | 'rate_limited' | 'unavailable' | 'internal'
  // client-side
  | 'timeout' | 'disconnected' | 'closed';

export interface OrderLine {
  product_id: number | string;
  name: string;
  qty: number;
  price_unit: number;
  discount?: number | null;
  note?: string | null;
  [field: string]: unknown;
}

export interface Order {
  name?: string | null;
  note?: string | null;
  customer?: { id: number | string; name: string; [field: string]: unknown } | null;
  lines: OrderLine[];
  [field: string]: unknown;
}

export interface SessionEntry {
  session: string;
  name: string;
  sender: boolean;
  receiver: boolean;
  online: boolean;
}

export interface Welcome {
  type: 'welcome';
  id?: string | number;
  session: string;
  name: string;
  shop: string;
  sender: boolean;
  receiver: boolean;
  protocol: 1;
  heartbeat_ms: number;
  max_message_bytes: number;
  sessions: SessionEntry[];
}

export interface ReceiverStatus { session: string; status: Status; updated_at?: string }

export interface SentReply {
  type: 'sent';
  order_id: number;
  ref: string;
  duplicate: boolean;
  created_at: string;
  receivers: ReceiverStatus[];
}

export interface OrderPush {
  type: 'order';
  order_id: number;
  ref: string;
  from: string;
  from_name: string;
  mode: Mode;
  status: Status;
  created_at: string;
  order: Order;
}

export interface StatusEvent {
  type: 'status';
  order_id: number;
  session: string;
  status: Status;
  at: string;
  by: string;
  reason: string | null;
}

export interface PresenceEvent { type: 'presence'; session: string; online: boolean }

export interface ListEntry {
  order_id: number;
  ref: string;
  from: string;
  mode: Mode;
  created_at: string;
  updated_at: string;
  /** inbox: this receiver's delivery */
  status?: Status;
  /** outbox: every receiver's delivery */
  receivers?: ReceiverStatus[];
  order: Order;
}

export interface DeliveredReply { type: 'delivered'; order_id: number; duplicate: boolean; order: Order }
export interface RejectedReply { type: 'rejected'; order_id: number; duplicate: boolean }
export interface CancelledReply { type: 'cancelled'; order_id: number; receivers: ReceiverStatus[] }

export interface OutboxEntry { ref: string; to: string[]; mode: Mode; order: Order; queued_at: string }

export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface ClientOptions {
  /** ws://host:port/ws */
  url: string;
  session: string;
  token: string;
  /** `client` field of hello (default possync-js/1). */
  client?: string;
  /** WebSocket constructor; default globalThis.WebSocket (pass the `ws` package in Node 20). */
  WebSocket?: unknown;
  /** Where the outbox lives; default localStorage when usable, null for memory only. */
  storage?: StorageLike | null;
  /** Default `possync:outbox:<session>`. */
  storageKey?: string;
  requestTimeoutMs?: number;
  helloTimeoutMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  backoffFactor?: number;
  /** Acknowledge every push (sent → received). Default true. */
  autoAck?: boolean;
  /** How many order_ids are remembered for de-duplication. Default 5000. */
  seenLimit?: number;
  /** Random source for the backoff jitter (tests). */
  random?: () => number;
}

export interface EventMap {
  state: { state: ConnectionState; previous: ConnectionState; code?: number; reason?: string; retryInMs?: number };
  welcome: Welcome;
  /** A new order for this terminal, once per order_id. */
  order: OrderPush;
  status: StatusEvent;
  presence: PresenceEvent;
  /** The shop's sessions changed (welcome, presence, sessions()). */
  directory: SessionEntry[];
  /** A send finished (also a resumed one from an earlier page). */
  sent: { ref: string; reply: SentReply; entry: OutboxEntry };
  /** A send ended with an error. */
  'send-failed': { ref: string; error: PossyncError; entry: OutboxEntry };
  /** The unacknowledged sends changed. */
  outbox: OutboxEntry[];
  /** An error push without a matching request (e.g. a reply whose id was refused). */
  error: PossyncError;
  /** Every message from the broker, parsed, before it is handled. */
  message: { type: string; [field: string]: unknown };
}

export const DEFINITIVE_ERRORS: readonly ErrorCode[];

export class PossyncError extends Error {
  constructor(code: ErrorCode | string, message?: string, reply?: object | null);
  code: ErrorCode;
  reply: object | null;
  /** True when retrying the same request cannot help. */
  readonly definitive: boolean;
}

export function backoffDelay(
  attempt: number,
  options: { backoffInitialMs: number; backoffMaxMs: number; backoffFactor: number },
  random?: () => number,
): number;

export class PossyncClient {
  constructor(options: ClientOptions);
  readonly state: ConnectionState;
  readonly self: Welcome | null;
  readonly directory: Map<string, SessionEntry>;

  on<K extends keyof EventMap>(type: K, listener: (event: EventMap[K]) => void): () => void;
  off<K extends keyof EventMap>(type: K, listener: (event: EventMap[K]) => void): void;

  connect(): Promise<Welcome>;
  close(): void;

  send(to: string[], order: Order, options?: { ref?: string; mode?: Mode }): Promise<SentReply>;
  pendingSends(): OutboxEntry[];
  ack(orderId: number): boolean;
  list(options?: { box?: 'inbox' | 'outbox'; status?: Status[]; limit?: number; before?: number }): Promise<ListEntry[]>;
  deliver(orderId: number): Promise<DeliveredReply>;
  reject(orderId: number, reason?: string | null): Promise<RejectedReply>;
  cancel(orderId: number): Promise<CancelledReply>;
  sessions(): Promise<SessionEntry[]>;
  ping(): Promise<{ type: 'pong' }>;
  request<T = object>(message: { type: string; [field: string]: unknown }, options?: { timeoutMs?: number; retry?: boolean }): Promise<T>;
  sessionList(): SessionEntry[];
}
