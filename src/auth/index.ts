/** Authentication: MediaMTX's internal, HTTP and JWT methods, credentials from every protocol, brute-force blocking. */
export { AuthManager, type AuthRequest, type AuthResult } from './manager.js';
export { credentialsOf, hasCredentials, redactQuery, type Credentials } from './credentials.js';
export { ipOf } from './address.js';
export type { RequestAction } from './permissions.js';
