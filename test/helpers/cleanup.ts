/**
 * What a test started, stopped in reverse order. Each e2e file makes one and calls
 * `run()` from afterEach/afterAll; helpers register their own stoppers, so nothing a test
 * started (processes, servers, sockets, temp dirs) outlives it even when it fails.
 */
export class Cleanup {
  private readonly stack: Array<{ what: string; stop: () => unknown }> = [];

  add(what: string, stop: () => unknown): void {
    this.stack.push({ what, stop });
  }

  /** Runs every stopper, newest first; one failing does not skip the rest. */
  async run(): Promise<void> {
    const errors: string[] = [];
    while (this.stack.length) {
      const { what, stop } = this.stack.pop()!;
      try {
        await stop();
      } catch (e) {
        errors.push(`${what}: ${(e as Error).message}`);
      }
    }
    if (errors.length) throw new Error(`cleanup failed:\n${errors.join("\n")}`);
  }
}
