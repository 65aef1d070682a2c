/** setTimeout's ceiling (about 24.8 days); longer waits re-arm. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * One timer per active grant, firing at its expiry. The callback checks the
 * time itself and re-arms when woken early (long waits are split).
 */
export function createExpiryTimers(now: () => Date, onDue: (id: string) => void) {
  const timers = new Map<string, NodeJS.Timeout>();
  function arm(id: string, expiresAt: Date): void {
    disarm(id);
    const ms = Math.max(0, expiresAt.getTime() - now().getTime());
    const t = setTimeout(
      () => {
        timers.delete(id);
        if (now().getTime() >= expiresAt.getTime()) onDue(id);
        else arm(id, expiresAt);
      },
      Math.min(ms, MAX_TIMER_MS),
    );
    t.unref();
    timers.set(id, t);
  }
  function disarm(id: string): void {
    const t = timers.get(id);
    if (t) clearTimeout(t);
    timers.delete(id);
  }
  return {
    arm,
    disarm,
    clear() {
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
    },
  };
}
