#pragma once
// Memory that holds secrets read from files (private-key PEM, ticket-key text) and is
// wiped with OPENSSL_cleanse whenever it is freed, growth included: the allocator
// wipes every block it gives back, so no stale copy is left in the heap for a core
// dump, a swap page or a later allocation to reveal. Keys OpenSSL parses out of it
// live in OpenSSL's own memory, which OpenSSL wipes when it frees them.
//
// The strings are always longer than std::string's small-string buffer in practice
// (a PEM key is over a kilobyte), so their bytes are always in the heap block.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace vmsgate::tls {

void wipe(void* p, std::size_t n) noexcept;  // OPENSSL_cleanse, kept out of this header

// `Base` does the allocating (std::allocator; a test's recording allocator).
template <typename T, typename Base = std::allocator<T>>
struct wiping_allocator {
  using value_type = T;
  template <typename U>
  struct rebind {
    using other = wiping_allocator<U, typename std::allocator_traits<Base>::template rebind_alloc<U>>;
  };
  wiping_allocator() noexcept = default;
  template <typename U, typename B>
  wiping_allocator(const wiping_allocator<U, B>&) noexcept {}
  T* allocate(std::size_t n) { return Base{}.allocate(n); }
  void deallocate(T* p, std::size_t n) noexcept {
    wipe(p, n * sizeof(T));
    Base{}.deallocate(p, n);
  }
  template <typename U, typename B>
  bool operator==(const wiping_allocator<U, B>&) const noexcept {
    return true;
  }
};

using secret_string = std::basic_string<char, std::char_traits<char>, wiping_allocator<char>>;

inline secret_string to_secret(std::string_view text) { return secret_string(text.begin(), text.end()); }

// Reads a whole file straight into wiped memory (no stream buffer copy); throws
// std::runtime_error("cannot read PATH: reason") on failure.
secret_string read_secret_file(const std::string& path);

}  // namespace vmsgate::tls
