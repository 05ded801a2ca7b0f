// Readiness as a set of named conditions (policies loaded, certificate loaded, not shutting down),
// so that `/readyz` can say which one is missing.
/** The condition set once shutdown has begun. */
export const SHUTDOWN_CONDITION = 'shutdown';

export class Readiness {
  private readonly pending = new Map<string, string>();

  /** Marks a condition unmet, with the reason `/readyz` reports. */
  block(condition: string, reason: string): void {
    this.pending.set(condition, reason);
  }

  /** Marks a condition met. */
  clear(condition: string): void {
    this.pending.delete(condition);
  }

  has(condition: string): boolean {
    return this.pending.has(condition);
  }

  get ready(): boolean {
    return this.pending.size === 0;
  }

  reasons(): string[] {
    return [...this.pending.entries()].map(([condition, reason]) => `${condition}: ${reason}`);
  }
}
