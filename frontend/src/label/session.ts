/**
 * The annotator's work session on one project: the leases they hold, the next item prefetched,
 * submits and skips sent in the background with retries.
 *
 * The server lets an annotator hold LEASE_MAX_ACTIVE (2) active leases: the one on screen and
 * the next, already fetched (and its image preloaded), so moving on shows it at once. A submit
 * carries an Idempotency-Key chosen once per lease; a retry after a network failure sends the
 * same key, so the server replays the first annotation instead of making a second one. The
 * refill (`POST next`) waits for the submit or skip it follows: asked earlier, the server
 * would still count the old lease as held and answer with it.
 */

import { ApiError, call, type Schemas } from '../api/client';

export type Lease = Schemas['Lease'];
export type Annotation = Schemas['SubmitResponse'];
export type EndReason = 'exhausted' | 'limit_reached';

export interface SessionEvents {
  /** A background submit or skip failed for good (not a network blip). */
  onRefused?(lease: Lease, err: ApiError): void;
  /** A background submit is being retried after a network failure. */
  onRetrying?(lease: Lease, attempt: number): void;
  /** A submit was stored (replayed: an earlier attempt had already been stored). */
  onSaved?(lease: Lease, annotation: Annotation, replayed: boolean): void;
  /** Pending submits changed (for a "saving…" indicator). */
  onPending?(count: number): void;
  /** A lease was added to the queue (the next item is in hand). */
  onQueue?(held: number): void;
}

export interface SessionOptions {
  /** Delays between retries of a submit that met a network error (ms). */
  retryDelays?: number[];
  /** Preload an image URL (browser cache); tests pass a no-op. */
  preload?: (url: string) => void;
  /** Media URL of an item field (for preloading). */
  mediaUrl?: (lease: Lease, field: string) => string | null;
  /** Data fields that are images, to preload. */
  imageFields?: string[];
}

const DEFAULT_DELAYS = [300, 1000, 2000, 4000, 8000, 15000];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function newKey(): string {
  return typeof crypto.randomUUID === 'function'
    ? crypto.randomUUID()
    : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

export class WorkSession {
  /** Active leases held, oldest first; [0] is on screen. */
  private queue: Lease[] = [];
  private done = new Set<string>();
  private ended: EndReason | null = null;
  private refilling: Promise<void> | null = null;
  /** Work that must finish before the next refill (submits and skips in flight). */
  private inflight = new Set<Promise<unknown>>();
  private pending = 0;
  /** Server clock minus client clock (ms), from the Date header. */
  skew = 0;
  readonly maxActive = 2;

  constructor(
    readonly slug: string,
    readonly projectId: string,
    private readonly events: SessionEvents = {},
    private readonly opts: SessionOptions = {},
  ) {}

  private get path() {
    return { tenant: this.slug, project_id: this.projectId };
  }

  private noteClock(headers: Headers): void {
    const date = headers.get('Date');
    const t = date ? Date.parse(date) : NaN;
    if (!Number.isNaN(t)) this.skew = t - Date.now();
  }

  /** Milliseconds left on a lease, by the server's clock. */
  remaining(lease: Lease): number {
    return Date.parse(lease.expires_at) - (Date.now() + this.skew);
  }

  get current(): Lease | null {
    return this.queue[0] ?? null;
  }

  get upcoming(): Lease | null {
    return this.queue[1] ?? null;
  }

  get endReason(): EndReason | null {
    return this.ended;
  }

  /** Pick up leases held from an earlier visit, then fill the queue. */
  async start(signal?: AbortSignal): Promise<void> {
    const { data, headers } = await call('get', '/api/v1/t/{tenant}/projects/{project_id}/leases', { path: this.path, signal });
    this.noteClock(headers);
    this.queue = data.filter((l) => l.state === 'active' && this.remaining(l) > 1000);
    this.queue.forEach((l) => this.preload(l));
    await this.refill(signal);
  }

  private preload(lease: Lease): void {
    const { preload, mediaUrl, imageFields } = this.opts;
    if (!preload || !mediaUrl || !imageFields) return;
    for (const f of imageFields) {
      const url = mediaUrl(lease, f);
      if (url) preload(url);
    }
  }

  /** Ask for leases until two are held or the server has nothing more. */
  refill(signal?: AbortSignal): Promise<void> {
    if (this.refilling) return this.refilling;
    this.refilling = (async () => {
      try {
        await Promise.allSettled([...this.inflight]);
        this.queue = this.queue.filter((l) => this.remaining(l) > 1000);
        while (this.queue.length < this.maxActive && !this.ended) {
          const { data, status, headers } = await call('post', '/api/v1/t/{tenant}/projects/{project_id}/next', {
            path: this.path,
            signal,
          });
          this.noteClock(headers);
          if (status === 204 || !data) {
            const reason = headers.get('Annotate-Reason');
            // limit_reached and exhausted end the session; more may come later (a new import).
            this.ended = reason === 'limit_reached' ? 'limit_reached' : 'exhausted';
            break;
          }
          if (this.done.has(data.id) || this.queue.some((l) => l.id === data.id)) break; // held: nothing new
          this.queue.push(data);
          this.preload(data);
          this.events.onQueue?.(this.queue.length);
          if (status === 200) break;
        }
      } finally {
        this.refilling = null;
      }
    })();
    return this.refilling;
  }

  /** A lease handed out with a submit (or why there was none). */
  private take(next: Lease | null, reason: string | null): void {
    if (next) {
      if (this.done.has(next.id) || this.queue.some((l) => l.id === next.id)) return;
      if (next.state !== 'active' || this.queue.length >= this.maxActive) return;
      this.queue.push(next);
      this.preload(next);
      this.events.onQueue?.(this.queue.length);
    } else if (reason === 'exhausted' || reason === 'limit_reached' || reason === 'competitor_excluded') {
      this.ended = reason === 'limit_reached' ? 'limit_reached' : 'exhausted';
    }
  }

  /** Forget the lease on screen (expired): the next one moves up. */
  drop(lease: Lease): void {
    this.done.add(lease.id);
    this.queue = this.queue.filter((l) => l.id !== lease.id);
  }

  /** Put a lease back on screen first (its submit was refused and it can still be fixed). */
  restore(lease: Lease): void {
    if (this.remaining(lease) <= 0 || this.queue.some((l) => l.id === lease.id)) return;
    this.done.delete(lease.id);
    this.queue.unshift(lease);
  }

  /** Leases on screen whose time ran out are removed; true if the current one was. */
  dropExpired(): boolean {
    const cur = this.current;
    this.queue = this.queue.filter((l) => this.remaining(l) > 0);
    return cur !== null && this.current?.id !== cur.id;
  }

  /**
   * Submit the answer for `lease` in the background and move on at once. Resolves when the
   * server has stored it (or refused it for good).
   */
  submit(lease: Lease, result: Record<string, unknown>): Promise<Annotation | null> {
    this.drop(lease);
    const key = newKey();
    const work = this.track(this.sendSubmit(lease, result, key));
    // A failed refill is retried when the queue runs dry (the screen asks again).
    this.refill().catch(() => undefined);
    return work;
  }

  private async sendSubmit(lease: Lease, result: Record<string, unknown>, key: string): Promise<Annotation | null> {
    const delays = this.opts.retryDelays ?? DEFAULT_DELAYS;
    for (let attempt = 0; ; attempt++) {
      try {
        // ?next=1: the server hands out the next lease in the same request (one round trip
        // per item instead of two); the refill that follows then finds the queue full.
        const { data, headers } = await call('post', '/api/v1/t/{tenant}/projects/{project_id}/leases/{lease_id}/submit', {
          path: { ...this.path, lease_id: lease.id },
          query: { next: '1' },
          body: { result },
          headers: { 'Idempotency-Key': key },
        });
        this.noteClock(headers);
        this.take(data.next ?? null, data.next_reason ?? null);
        this.events.onSaved?.(lease, data, headers.get('Idempotent-Replayed') === 'true');
        return data;
      } catch (err) {
        const e = err instanceof ApiError ? err : new ApiError(0, 'network_error', String(err));
        const transient = e.isNetwork || e.status >= 500 || e.status === 429;
        if (transient && attempt < delays.length) {
          this.events.onRetrying?.(lease, attempt + 1);
          await sleep(delays[attempt]!);
          continue;
        }
        this.events.onRefused?.(lease, e);
        return null;
      }
    }
  }

  /** Skip the item on screen (the server will not offer it to this annotator again). */
  skip(lease: Lease): Promise<void> {
    this.drop(lease);
    const work = this.track(
      (async () => {
        const delays = this.opts.retryDelays ?? DEFAULT_DELAYS;
        for (let attempt = 0; ; attempt++) {
          try {
            await call('post', '/api/v1/t/{tenant}/projects/{project_id}/leases/{lease_id}/skip', {
              path: { ...this.path, lease_id: lease.id },
            });
            return;
          } catch (err) {
            const e = err instanceof ApiError ? err : new ApiError(0, 'network_error', String(err));
            if (e.code === 'lease_skipped') return; // an earlier attempt went through
            if ((e.isNetwork || e.status >= 500) && attempt < delays.length) {
              await sleep(delays[attempt]!);
              continue;
            }
            this.events.onRefused?.(lease, e);
            return;
          }
        }
      })(),
    );
    // A failed refill is retried when the queue runs dry (the screen asks again).
    this.refill().catch(() => undefined);
    return work;
  }

  /** Give every held lease back (leaving the screen). Best effort. */
  async releaseAll(): Promise<void> {
    const held = [...this.queue];
    this.queue = [];
    await Promise.allSettled(
      held.map((l) =>
        call('post', '/api/v1/t/{tenant}/projects/{project_id}/leases/{lease_id}/release', {
          path: { ...this.path, lease_id: l.id },
        }),
      ),
    );
  }

  /** Wait for background submits and skips (tests, leaving the page). */
  async settle(): Promise<void> {
    while (this.inflight.size) await Promise.allSettled([...this.inflight]);
    if (this.refilling) await this.refilling.catch(() => undefined);
  }

  get pendingCount(): number {
    return this.pending;
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.pending++;
    this.events.onPending?.(this.pending);
    this.inflight.add(p);
    const done = (): void => {
      this.inflight.delete(p);
      this.pending--;
      this.events.onPending?.(this.pending);
    };
    p.then(done, done);
    return p;
  }
}
