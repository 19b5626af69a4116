/**
 * The Kafka protocol's primitive types, for the few requests this pipeline sends itself (topic
 * configurations, ACLs, SCRAM credentials, the SASL login): big-endian integers, int16-length
 * strings, and for flexible versions (KIP-482) unsigned-varint "compact" lengths and empty tagged
 * field sections.
 */
export class Writer {
  private readonly parts: Buffer[] = [];
  int8(value: number): this {
    return this.fixed(1, (b) => b.writeInt8(value));
  }
  int16(value: number): this {
    return this.fixed(2, (b) => b.writeInt16BE(value));
  }
  int32(value: number): this {
    return this.fixed(4, (b) => b.writeInt32BE(value));
  }
  int64(value: bigint): this {
    return this.fixed(8, (b) => b.writeBigInt64BE(value));
  }
  string(value: string): this {
    const bytes = Buffer.from(value, 'utf8');
    this.int16(bytes.length);
    this.parts.push(bytes);
    return this;
  }
  nullableString(value: string | null): this {
    return value === null ? this.int16(-1) : this.string(value);
  }
  stringArray(values: readonly string[] | null): this {
    if (values === null) return this.int32(-1);
    this.int32(values.length);
    for (const value of values) this.string(value);
    return this;
  }
  /** BYTES: int32 length, then the bytes. */
  bytes32(value: Buffer): this {
    this.int32(value.length);
    this.parts.push(value);
    return this;
  }
  unsignedVarint(value: number): this {
    const out: number[] = [];
    let rest = value >>> 0;
    while (rest >= 0x80) {
      out.push((rest & 0x7f) | 0x80);
      rest >>>= 7;
    }
    out.push(rest);
    this.parts.push(Buffer.from(out));
    return this;
  }
  /** COMPACT_STRING: length + 1 as an unsigned varint. */
  compactString(value: string): this {
    const bytes = Buffer.from(value, 'utf8');
    this.unsignedVarint(bytes.length + 1);
    this.parts.push(bytes);
    return this;
  }
  compactBytes(value: Buffer): this {
    this.unsignedVarint(value.length + 1);
    this.parts.push(value);
    return this;
  }
  /** COMPACT_ARRAY's length (count + 1). */
  compactArrayLength(count: number): this {
    return this.unsignedVarint(count + 1);
  }
  /** An empty tagged-field section. */
  noTags(): this {
    return this.unsignedVarint(0);
  }
  raw(value: Buffer): this {
    this.parts.push(value);
    return this;
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
  private fixed(size: number, write: (buffer: Buffer) => void): this {
    const buffer = Buffer.alloc(size);
    write(buffer);
    this.parts.push(buffer);
    return this;
  }
}

export class Reader {
  private at = 0;
  constructor(private readonly buffer: Buffer) {}
  int8(): number {
    return this.buffer.readInt8(this.advance(1));
  }
  int16(): number {
    return this.buffer.readInt16BE(this.advance(2));
  }
  int32(): number {
    return this.buffer.readInt32BE(this.advance(4));
  }
  int64(): bigint {
    return this.buffer.readBigInt64BE(this.advance(8));
  }
  nullableString(): string | null {
    const length = this.int16();
    if (length < 0) return null;
    const start = this.advance(length);
    return this.buffer.toString('utf8', start, start + length);
  }
  bytes32(): Buffer {
    const length = this.int32();
    if (length < 0) return Buffer.alloc(0);
    const start = this.advance(length);
    return this.buffer.subarray(start, start + length);
  }
  unsignedVarint(): number {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const byte = this.buffer.readUInt8(this.advance(1));
      value |= (byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return value >>> 0;
    }
    throw new RangeError('Kafka response: unsigned varint longer than 5 bytes');
  }
  compactNullableString(): string | null {
    const length = this.unsignedVarint() - 1;
    if (length < 0) return null;
    const start = this.advance(length);
    return this.buffer.toString('utf8', start, start + length);
  }
  compactArrayLength(): number {
    return Math.max(0, this.unsignedVarint() - 1);
  }
  /** Skips a tagged-field section. */
  tags(): void {
    const count = this.unsignedVarint();
    for (let i = 0; i < count; i++) {
      this.unsignedVarint();
      this.advance(this.unsignedVarint());
    }
  }
  /** Bytes not read yet. */
  remaining(): number {
    return this.buffer.length - this.at;
  }
  private advance(bytes: number): number {
    const start = this.at;
    if (start + bytes > this.buffer.length) throw new RangeError(`Kafka response truncated at byte ${start}`);
    this.at += bytes;
    return start;
  }
}
