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
  it('pings a member first one full round after it joins, then once per round', () => {
    const set = new HeartbeatSet<Conn>(10);
    const a = new Conn();
    set.pingNextSlot();
    set.pingNextSlot();
    set.add(a);
    for (let tick = 1; tick <= 9; tick++) {
      set.pingNextSlot();
      expect(a.pings, `tick ${tick}`).toBe(0);
    }
    set.pingNextSlot();
    expect(a.pings).toBe(1);
    for (let i = 0; i < 10; i++) set.pingNextSlot();
    expect(a.pings).toBe(2);
  });

  it('one tick pings the members that joined during one tick, not all of them', () => {
    const set = new HeartbeatSet<Conn>(10);
    const conns: Conn[] = [];
    // 7 connections arrive per tick, for a whole round.
    for (let tick = 0; tick < 10; tick++) {
      for (let i = 0; i < 7; i++) {
        const c = new Conn();
        conns.push(c);
        set.add(c);
      }
      set.pingNextSlot();
    }
    const perTick = Array.from({ length: 10 }, () => set.pingNextSlot());
    expect(perTick).toEqual(Array(10).fill(7));
    // The first arrivals' slot came round once during the arrivals already; everyone else's now.
    expect(conns.map((c) => c.pings)).toEqual([...Array(7).fill(2), ...Array(63).fill(1)]);
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
