#pragma once
// Per-worker pool of transfer buffers. A connection takes a buffer only while bytes
// are moving and gives it back before it waits, so idle connections hold none.
// Buffers stay below glibc's mmap threshold and are reused, because on this class of
// VM a fresh page costs a fault (~12 us) and an mmap/munmap pair far more.
// Not thread-safe by design: each worker owns one.

#include <cstddef>
#include <memory>
#include <vector>

namespace vmsgate::net_io {

class buffer_pool {
 public:
  // One read of the plain side takes read_size bytes; the TLS records made of them,
  // headers and tags included, still fit one buffer (record_gather holds them there).
  static constexpr std::size_t read_size = 64 * 1024;
  static constexpr std::size_t buffer_size = read_size + 1024;

  explicit buffer_pool(std::size_t max_idle = 256) : max_idle_(max_idle) {}
  buffer_pool(const buffer_pool&) = delete;
  buffer_pool& operator=(const buffer_pool&) = delete;

  class lease {
   public:
    lease() = default;
    lease(buffer_pool& pool, std::unique_ptr<std::byte[]> b) : pool_(&pool), data_(std::move(b)) {}
    lease(lease&&) noexcept = default;
    lease& operator=(lease&& other) noexcept {
      reset();
      pool_ = other.pool_;
      data_ = std::move(other.data_);
      return *this;
    }
    ~lease() { reset(); }

    std::byte* data() const noexcept { return data_.get(); }
    static constexpr std::size_t size() noexcept { return buffer_size; }
    explicit operator bool() const noexcept { return data_ != nullptr; }
    void reset() noexcept {
      if (data_) pool_->give_back(std::move(data_));
    }

   private:
    buffer_pool* pool_ = nullptr;
    std::unique_ptr<std::byte[]> data_;
  };

  lease take();

  std::size_t idle() const noexcept { return free_.size(); }
  std::size_t outstanding() const noexcept { return outstanding_; }

 private:
  void give_back(std::unique_ptr<std::byte[]> b) noexcept;

  std::size_t max_idle_;
  std::size_t outstanding_ = 0;
  std::vector<std::unique_ptr<std::byte[]>> free_;
};

}  // namespace vmsgate::net_io
