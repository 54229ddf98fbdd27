/// The heap buffer behind a ``Tensor``: a fixed number of `Float`s, 64-byte aligned.
///
/// Tensors share a storage until one of them is mutated (copy-on-write).
@usableFromInline
final class TensorStorage: @unchecked Sendable {
  @usableFromInline let base: UnsafeMutablePointer<Float>
  @usableFromInline let count: Int

  @usableFromInline
  init(count: Int) {
    precondition(count >= 0, "a tensor cannot have a negative element count")
    self.count = count
    let raw = UnsafeMutableRawPointer.allocate(
      byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
    base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
  }

  @usableFromInline
  func copy() -> TensorStorage {
    let other = TensorStorage(count: count)
    other.base.update(from: base, count: count)
    return other
  }

  deinit { UnsafeMutableRawPointer(base).deallocate() }
}
