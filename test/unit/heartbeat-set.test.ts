/** src/ws/heartbeat-set.ts: every connection pinged once per round, a slice per tick. */
import { describe, expect, it } from 'vitest';
import { HeartbeatSet } from '../../src/ws/heartbeat-set.js';

class Conn {
  pings = 0;
  ping(): void {
    this.pings++;
  }
}

describe('HeartbeatSet', () => {
  it('pings each member exactly once per round of `slots` ticks, about size / slots per tick', () => {
    const set = new HeartbeatSet<Conn>(10);
    const conns = Array.from({ length: 103 }, () => new Conn());
    for (const c of conns) set.add(c);
    const perTick = Array.from({ length: 10 }, () => set.pingNextSlot());
    expect(perTick.reduce((a, b) => a + b, 0)).toBe(103);
    expect(Math.max(...perTick)).toBe(11);
    expect(conns.every((c) => c.pings === 1)).toBe(true);
    for (let i = 0; i < 10; i++) set.pingNextSlot();
    expect(conns.every((c) => c.pings === 2)).toBe(true);
  });

  it('is a Set: size, has, iteration; a deleted member is not pinged; adding twice keeps one slot', () => {
    const set = new HeartbeatSet<Conn>(4);
    const [a, b, c] = [new Conn(), new Conn(), new Conn()];
    set.add(a).add(b).add(c).add(a);
    expect(set.size).toBe(3);
    expect([...set]).toEqual([a, b, c]);
    expect(set.delete(b)).toBe(true);
    expect(set.has(b)).toBe(false);
    for (let i = 0; i < 4; i++) set.pingNextSlot();
    expect([a.pings, b.pings, c.pings]).toEqual([1, 0, 1]);
    set.clear();
    expect(set.size).toBe(0);
    for (let i = 0; i < 4; i++) expect(set.pingNextSlot()).toBe(0);
  });

  it('has at least one slot', () => {
    const set = new HeartbeatSet<Conn>(0);
    const a = new Conn();
    set.add(a);
    expect(set.slots).toBe(1);
    expect(set.pingNextSlot()).toBe(1);
  });
});
