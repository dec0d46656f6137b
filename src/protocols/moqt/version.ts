/**
 * The IETF moq-transport drafts Polycast speaks, and how a session settles
 * on one: from draft 15 on the version is not in SETUP any more but in the
 * WebTransport subprotocol (`moqt-NN`, offered in `wt-available-protocols`,
 * answered in `wt-protocol`).
 */

/** Draft numbers served, oldest first. 16 for clients that have not moved on; 19 is the newest MediaMTX speaks. */
export const MOQT_DRAFTS = [16, 17, 18, 19] as const;
export type MoqtDraft = (typeof MOQT_DRAFTS)[number];

/** The SETUP-era version number of a draft (0xff0000NN). */
export function versionCode(draft: MoqtDraft): number {
  return 0xff000000 + draft;
}

export function subprotocolOf(draft: MoqtDraft): string {
  return `moqt-${draft}`;
}

/** The newest draft among the offered subprotocols, or undefined when none is ours. */
export function selectDraft(offered: readonly string[]): MoqtDraft | undefined {
  for (let i = MOQT_DRAFTS.length - 1; i >= 0; i--) {
    const draft = MOQT_DRAFTS[i]!;
    if (offered.includes(subprotocolOf(draft))) return draft;
  }
  return undefined;
}

export function draftOfSubprotocol(protocol: string | undefined): MoqtDraft | undefined {
  return protocol === undefined ? undefined : selectDraft([protocol]);
}

/** Draft 17 replaced QUIC varints with leading-ones varints everywhere in MOQT. */
export function usesLeadingOnes(draft: MoqtDraft): boolean {
  return draft >= 17;
}

/** Draft 17 replaced CLIENT_SETUP/SERVER_SETUP on a control stream by one SETUP per side on a unidirectional stream, and each request got its own bidirectional stream. */
export function hasStreamPerRequest(draft: MoqtDraft): boolean {
  return draft >= 17;
}
