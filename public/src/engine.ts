/**
 * The few engine traits that cannot be feature-detected without triggering
 * the fault they are about (a crash, an unmute), read from the user agent.
 * Every iOS browser is WebKit and says so (`CriOS`, `FxiOS` carry AppleWebKit
 * without Chromium's `Chrome/` token).
 */

/** Desktop and iOS WebKit: `AppleWebKit` without Chromium's `Chrome/` token (Chromium and Edge carry both). */
export function isWebKitEngine(userAgent: string = navigator.userAgent): boolean {
  return /AppleWebKit\//.test(userAgent) && !/(Chrome|Chromium|HeadlessChrome)\//.test(userAgent);
}
