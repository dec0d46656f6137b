/** @moq/net's IETF setup classes (the compat handshake), imported file by file for the same reason as `net-lite.ts`. */
export { SetupOption, SetupOptions } from '../../node_modules/@moq/net/ietf/parameters.js';
export { ClientSetup, ServerSetup } from '../../node_modules/@moq/net/ietf/setup.js';
export { solicitIntoSetup } from '../../node_modules/@moq/net/ietf/solicit.js';
export { Version } from '../../node_modules/@moq/net/ietf/version.js';
