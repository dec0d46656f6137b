/**
 * The part of AMF3 (Adobe "AMF 3 Specification", 2013) a server meets in
 * RTMP: values behind an AMF0 AVM+ marker (0x11), which Flash-era clients put
 * in type-17 commands. Decoded into the same value model as AMF0; byte
 * arrays, vectors and dictionaries carry nothing a publish needs and are
 * refused or skipped. Bounded like the AMF0 reader: counts against bytes left,
 * nesting capped, reference indexes checked.
 */
import type { AmfObject, AmfReader, AmfValue } from './amf0.js';
import { AMF_MAX_DEPTH } from './amf0.js';

interface Traits {
  readonly sealed: readonly string[];
  readonly dynamic: boolean;
}

/** One AMF3 value: reference tables are per AVM+ switch, as each such value is self-contained. */
export function decodeAmf3Value(r: AmfReader, depth: number): AmfValue {
  return new Amf3Decoder(r).value(depth);
}

class Amf3Decoder {
  private readonly strings: string[] = [];
  private readonly objects: AmfValue[] = [];
  private readonly traits: Traits[] = [];

  constructor(private readonly r: AmfReader) {}

  private fail(message: string): never {
    return this.r.fail(`AMF3 ${message}`);
  }

  /** U29: 1–4 bytes, 7 bits each but the fourth, which gives all 8. */
  private u29(): number {
    let v = 0;
    for (let i = 0; i < 3; i++) {
      const b = this.r.u8();
      v = (v << 7) | (b & 0x7f);
      if ((b & 0x80) === 0) return v;
    }
    return ((v << 8) | this.r.u8()) >>> 0;
  }

  private string(): string {
    const header = this.u29();
    if ((header & 1) === 0) return this.ref(this.strings, header >> 1, 'string') as string;
    const s = this.r.text(header >> 1);
    // The empty string is never sent by reference.
    if (s !== '') this.strings.push(s);
    return s;
  }

  private ref<T>(table: readonly T[], index: number, what: string): T {
    if (index >= table.length) this.fail(`${what} reference ${index} to one of ${table.length}`);
    return table[index]!;
  }

  value(depth: number): AmfValue {
    if (depth > AMF_MAX_DEPTH) this.fail(`nesting deeper than ${AMF_MAX_DEPTH}`);
    const marker = this.r.u8();
    switch (marker) {
      case 0x00:
        return undefined;
      case 0x01:
        return null;
      case 0x02:
        return false;
      case 0x03:
        return true;
      case 0x04: {
        const v = this.u29();
        // A 29-bit two's complement integer.
        return v & 0x10000000 ? v - 0x20000000 : v;
      }
      case 0x05:
        return this.r.f64();
      case 0x06:
        return this.string();
      case 0x07: // XMLDocument
      case 0x0b: {
        // XML
        const header = this.u29();
        if ((header & 1) === 0) return this.ref(this.objects, header >> 1, 'object') as AmfValue;
        const s = this.r.text(header >> 1);
        this.objects.push(s);
        return s;
      }
      case 0x08: {
        const header = this.u29();
        if ((header & 1) === 0) return this.ref(this.objects, header >> 1, 'object') as AmfValue;
        const date = new Date(this.r.f64());
        this.objects.push(date);
        return date;
      }
      case 0x09:
        return this.array(depth);
      case 0x0a:
        return this.object(depth);
      case 0x0c: {
        const header = this.u29();
        if ((header & 1) === 0) return this.ref(this.objects, header >> 1, 'object') as AmfValue;
        this.r.need(header >> 1);
        this.r.pos += header >> 1;
        this.objects.push(undefined);
        return undefined;
      }
      default:
        return this.fail(`unsupported marker 0x${marker.toString(16).padStart(2, '0')}`);
    }
  }

  private array(depth: number): AmfValue {
    const header = this.u29();
    if ((header & 1) === 0) return this.ref(this.objects, header >> 1, 'object') as AmfValue;
    const count = header >> 1;
    if (count > this.r.remaining) this.fail(`array of ${count} elements in ${this.r.remaining} byte(s)`);
    const assoc = Object.create(null) as AmfObject;
    let hasAssoc = false;
    const slot = this.objects.push(undefined) - 1;
    for (let key = this.string(); key !== ''; key = this.string()) {
      assoc[key] = this.value(depth + 1);
      hasAssoc = true;
    }
    const dense: AmfValue[] = [];
    for (let i = 0; i < count; i++) dense.push(this.value(depth + 1));
    let result: AmfValue = dense;
    if (hasAssoc) {
      dense.forEach((v, i) => (assoc[String(i)] = v));
      result = assoc;
    }
    this.objects[slot] = result;
    return result;
  }

  private object(depth: number): AmfValue {
    const header = this.u29();
    if ((header & 1) === 0) return this.ref(this.objects, header >> 1, 'object') as AmfValue;
    let traits: Traits;
    if ((header & 2) === 0) {
      traits = this.ref(this.traits, header >> 2, 'traits');
    } else {
      if (header & 4) this.fail('externalizable object (its encoding is private to its class)');
      const sealedCount = header >> 4;
      if (sealedCount > this.r.remaining) this.fail(`${sealedCount} sealed members in ${this.r.remaining} byte(s)`);
      this.string(); // class name
      const sealed: string[] = [];
      for (let i = 0; i < sealedCount; i++) sealed.push(this.string());
      traits = { sealed, dynamic: (header & 8) !== 0 };
      this.traits.push(traits);
    }
    const object = Object.create(null) as AmfObject;
    this.objects.push(object);
    for (const name of traits.sealed) object[name] = this.value(depth + 1);
    if (traits.dynamic) for (let key = this.string(); key !== ''; key = this.string()) object[key] = this.value(depth + 1);
    return object;
  }
}
