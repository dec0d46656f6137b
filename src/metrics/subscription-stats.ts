/**
 * The figures of a transport whose sessions subscribe to tracks and receive
 * them a group at a time (moq-lite at /moq, moq-transport at /moqt): kept
 * for closed sessions in running counters, summed over open ones on demand.
 */

/** What closed sessions and ended subscriptions leave behind. */
export interface SubscriptionCounters {
  sessionsTotal: number;
  subscriptionsTotal: number;
  groupsSent: number;
  /** Groups dropped by subscriptions that have ended (live ones are summed on demand). */
  groupsDroppedClosed: number;
  protocolErrors: number;
}

/** What an open session reports of its live subscriptions. */
export interface OpenSessionFigures {
  readonly subscriptionCount: number;
  readonly groupsSent: number;
  readonly groupsDropped: number;
}

export interface SubscriptionStats {
  /** Open sessions. */
  sessions: number;
  sessionsTotal: number;
  /** Open track subscriptions, over all sessions. */
  subscriptions: number;
  subscriptionsTotal: number;
  /** Groups started, each on its own stream. */
  groupsSent: number;
  /** Groups reset before they were through because newer ones superseded them (or a flow-control stall). */
  groupsDropped: number;
  /** Sessions closed for a protocol violation. */
  protocolErrors: number;
}

/** Groups started and dropped by a session's live subscriptions. */
export function liveGroupFigures(subscriptions: Iterable<{ readonly sub: { readonly groups: number; readonly dropped: number } }>): { groupsSent: number; groupsDropped: number } {
  let groupsSent = 0;
  let groupsDropped = 0;
  for (const { sub } of subscriptions) {
    groupsSent += sub.groups;
    groupsDropped += sub.dropped;
  }
  return { groupsSent, groupsDropped };
}

export function newSubscriptionCounters(): SubscriptionCounters {
  return { sessionsTotal: 0, subscriptionsTotal: 0, groupsSent: 0, groupsDroppedClosed: 0, protocolErrors: 0 };
}

export function subscriptionStats(counters: SubscriptionCounters, open: ReadonlySet<OpenSessionFigures>): SubscriptionStats {
  let subscriptions = 0;
  let groupsSent = counters.groupsSent;
  let groupsDropped = counters.groupsDroppedClosed;
  for (const s of open) {
    subscriptions += s.subscriptionCount;
    groupsSent += s.groupsSent;
    groupsDropped += s.groupsDropped;
  }
  return {
    sessions: open.size,
    sessionsTotal: counters.sessionsTotal,
    subscriptions,
    subscriptionsTotal: counters.subscriptionsTotal,
    groupsSent,
    groupsDropped,
    protocolErrors: counters.protocolErrors,
  };
}
