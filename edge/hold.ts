/**
 * What plain clients send before they are paired, beyond what their attachment holds
 * (MAX_PENDING_BYTES): kept in memory, up to the service's max.message.size per client in
 * all. A plain client cannot know when it is paired, so it speaks at once; during a burst
 * with more clients than parked binds that is more than an attachment (16 KiB at most) can
 * take. Memory does not survive the object's eviction: a waiting client whose attachment says
 * it had bytes here (`held`) and whose bytes are gone is closed cleanly (1013) rather than
 * paired with a stream missing its start.
 */
export class PendingHold {
  private readonly held = new Map<string, { chunks: Uint8Array[]; bytes: number }>();

  /** Adds a chunk if the client's total stays within `room`; false otherwise. */
  add(id: string, chunk: Uint8Array, room: number): boolean {
    const h = this.held.get(id) ?? { chunks: [], bytes: 0 };
    if (h.bytes + chunk.byteLength > room) return false;
    h.chunks.push(chunk);
    h.bytes += chunk.byteLength;
    this.held.set(id, h);
    return true;
  }

  bytes(id: string): number {
    return this.held.get(id)?.bytes ?? 0;
  }

  has(id: string): boolean {
    return this.held.has(id);
  }

  /** The client's chunks, in order, now no longer held. */
  take(id: string): Uint8Array[] {
    const h = this.held.get(id);
    this.held.delete(id);
    return h?.chunks ?? [];
  }
}
