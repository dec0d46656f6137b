/**
 * The messages both ends of a connection answer alike, whichever of them
 * publishes or plays: protocol control (§5.4) and user control pings (§7.1.7).
 */
import type { Acknowledger } from './acknowledger.js';
import { MessageType, type RtmpMessage } from './chunk-reader.js';
import type { OutgoingMessage } from './chunk-writer.js';
import { readU32Message, readUserControl, UserControlEvent, userControl } from './messages.js';

/** Handles `m` if it is a control message (true), answering through `send` where the protocol asks for it. */
export function answerControlMessage(m: RtmpMessage, ack: Acknowledger, send: (reply: OutgoingMessage) => void): boolean {
  switch (m.type) {
    case MessageType.setChunkSize:
    case MessageType.abort:
    case MessageType.acknowledgement:
    case MessageType.setPeerBandwidth:
      // Applied by the chunk reader, or nothing to do (we send little and never throttle).
      return true;
    case MessageType.windowAckSize:
      ack.setWindow(readU32Message(m.payload, 'Window Acknowledgement Size'));
      return true;
    case MessageType.userControl: {
      const event = readUserControl(m.payload);
      if (event.event === UserControlEvent.pingRequest) send(userControl(UserControlEvent.pingResponse, event.value));
      return true;
    }
    default:
      return false;
  }
}
