/**
 * One buffer reused for every record written on a hot path, handed out as views of its first n
 * bytes. Valid only until the next write: for a consumer that copies the bytes at once (librdkafka's
 * produce() does). Views of small lengths are made once per length and kept, so that handing one
 * out allocates nothing.
 */
export class ScratchBuffer {
  readonly bytes: Buffer;
  private readonly views: Buffer[] = [];

  /** `keptViewLimit`: lengths up to which a view is kept (at most this many small objects). */
  constructor(
    size: number,
    private readonly keptViewLimit = 4096,
  ) {
    this.bytes = Buffer.allocUnsafe(size);
  }

  /** The first `length` bytes of `bytes`. */
  view(length: number): Buffer {
    if (length > this.keptViewLimit) return this.bytes.subarray(0, length);
    return (this.views[length] ??= this.bytes.subarray(0, length));
  }
}
