import { describe, expect, it } from 'vitest';
import { GroupSwitch, type SwitchGroup } from '../../public/src/transports/webtransport/group-switch.js';

class Group implements SwitchGroup {
  cancelled = false;
  constructor(readonly sequence: number) {}
  cancel(): void {
    this.cancelled = true;
  }
}

function setup(graceMs = 50) {
  const delivered: string[] = [];
  const dropped: { count: number; why: string }[] = [];
  const timers: { run: () => void; ms: number; cancelled: boolean }[] = [];
  const groups = new GroupSwitch<Group, string>({
    deliver: (frame, first) => delivered.push(first ? `${frame}*` : frame),
    dropped: (count, why) => dropped.push({ count, why }),
    graceMs,
    schedule: (run, ms) => {
      const timer = { run, ms, cancelled: false };
      timers.push(timer);
      return () => (timer.cancelled = true);
    },
  });
  const fire = () => {
    for (const t of timers.splice(0)) if (!t.cancelled) t.run();
  };
  return { groups, delivered, dropped, timers, fire };
}

describe('GroupSwitch', () => {
  it('plays groups one after the other, marking each group’s first frame', () => {
    const { groups, delivered } = setup();
    const a = new Group(1);
    const b = new Group(2);
    groups.frame(a, 'a1');
    groups.frame(a, 'a2');
    groups.end(a);
    groups.frame(b, 'b1');
    groups.frame(b, 'b2');
    expect(delivered).toEqual(['a1*', 'a2', 'b1*', 'b2']);
    expect(groups.playing).toBe(b);
  });

  it('holds a newer group until the one playing ends, so no late frame follows a newer keyframe', () => {
    const { groups, delivered, timers } = setup();
    const a = new Group(1);
    const b = new Group(2);
    groups.frame(a, 'a1');
    groups.frame(b, 'b1');
    groups.frame(b, 'b2');
    groups.frame(a, 'a2');
    expect(delivered).toEqual(['a1*', 'a2']);
    groups.end(a);
    expect(delivered).toEqual(['a1*', 'a2', 'b1*', 'b2']);
    expect(timers[0]!.cancelled).toBe(true);
    expect(a.cancelled).toBe(false);
  });

  it('abandons a group whose tail is stuck once the grace period is over', () => {
    const { groups, delivered, dropped, fire, timers } = setup(66);
    const a = new Group(1);
    const b = new Group(2);
    groups.frame(a, 'a1');
    groups.frame(b, 'b1');
    expect(timers[0]!.ms).toBe(66);
    fire();
    expect(a.cancelled).toBe(true);
    expect(delivered).toEqual(['a1*', 'b1*']);
    expect(dropped[0]!.why).toBe('group 1 abandoned for 2');
    // What still trickles in from the abandoned group is dropped.
    groups.frame(a, 'a2');
    expect(delivered).toEqual(['a1*', 'b1*']);
  });

  it('drops and cancels groups older than the one playing', () => {
    const { groups, delivered, dropped } = setup();
    const b = new Group(5);
    const late = new Group(4);
    groups.frame(b, 'b1');
    groups.frame(late, 'x');
    expect(late.cancelled).toBe(true);
    expect(delivered).toEqual(['b1*']);
    expect(dropped).toEqual([{ count: 1, why: 'late frame of group 4' }]);
  });

  it('lets an even newer group replace the waiting one', () => {
    const { groups, delivered, dropped } = setup();
    const a = new Group(1);
    const b = new Group(2);
    const c = new Group(3);
    groups.frame(a, 'a1');
    groups.frame(b, 'b1');
    groups.frame(b, 'b2');
    groups.frame(c, 'c1');
    expect(b.cancelled).toBe(true);
    expect(dropped[0]).toEqual({ count: 2, why: 'group 2 superseded before it played' });
    groups.frame(b, 'b3');
    groups.end(a);
    expect(delivered).toEqual(['a1*', 'c1*']);
  });

  it('plays a waiting group that already ended, then takes the next one at once', () => {
    const { groups, delivered } = setup();
    const a = new Group(1);
    const b = new Group(2);
    const c = new Group(3);
    groups.frame(a, 'a1');
    groups.frame(b, 'b1');
    groups.end(b);
    groups.end(a);
    groups.frame(c, 'c1');
    expect(delivered).toEqual(['a1*', 'b1*', 'c1*']);
  });

  it('starts over after a reset, cancelling what it held', () => {
    const { groups, delivered } = setup();
    const a = new Group(7);
    const b = new Group(8);
    groups.frame(a, 'a1');
    groups.frame(b, 'b1');
    groups.reset();
    expect([a.cancelled, b.cancelled]).toEqual([true, true]);
    // A new subscription counts from 0 again.
    const fresh = new Group(0);
    groups.frame(fresh, 'f1');
    expect(delivered).toEqual(['a1*', 'f1*']);
  });
});
