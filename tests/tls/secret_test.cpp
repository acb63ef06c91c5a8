// Secrets read from files are wiped when freed (issue 32, finding 8): private-key
// PEM and ticket-key text in wiping memory, ticket keys wiped when destroyed.

#include "proxy/tls/secret.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <new>
#include <vector>

#include "proxy/tls/ticket_keys.hpp"

namespace vmsgate::tls {
namespace {

// Copies each block as it is given back, so that a test can see what was left in it.
std::vector<std::string> returned_blocks;

template <typename T>
struct recording_allocator {
  using value_type = T;
  recording_allocator() noexcept = default;
  template <typename U>
  recording_allocator(const recording_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return std::allocator<T>{}.allocate(n); }
  void deallocate(T* p, std::size_t n) noexcept {
    returned_blocks.emplace_back(reinterpret_cast<const char*>(p), n * sizeof(T));
    std::allocator<T>{}.deallocate(p, n);
  }
  template <typename U>
  bool operator==(const recording_allocator<U>&) const noexcept {
    return true;
  }
};

using recorded_secret = std::basic_string<char, std::char_traits<char>, wiping_allocator<char, recording_allocator<char>>>;

bool all_zero(const std::string& bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == 0; });
}

TEST(Secret, EveryBlockIsWipedWhenGivenBackGrowthIncluded) {
  returned_blocks.clear();
  {
    recorded_secret s = "-----BEGIN PRIVATE KEY-----";
    for (int i = 0; i < 200; ++i) s += "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC";  // grows: old blocks go back
  }
  ASSERT_GE(returned_blocks.size(), 2u) << "the string never reallocated; the test proves nothing";
  for (const auto& block : returned_blocks) EXPECT_TRUE(all_zero(block)) << "a freed block still held the secret";
}

TEST(Secret, TicketKeyIsWipedWhenDestroyed) {
  alignas(ticket_key) unsigned char storage[sizeof(ticket_key)];
  auto* key = new (storage) ticket_key(random_ticket_key());
  ASSERT_FALSE(std::all_of(storage, storage + sizeof storage, [](unsigned char c) { return c == 0; }));
  key->~ticket_key();
  EXPECT_TRUE(std::all_of(storage, storage + sizeof storage, [](unsigned char c) { return c == 0; }));
}

TEST(Secret, ReadSecretFileReadsWholeFilesAndNamesMissingOnes) {
  const auto path = std::filesystem::temp_directory_path() / ("vmsgate-secret-" + std::to_string(::getpid()));
  std::string text;
  for (int i = 0; i < 10000; ++i) text += static_cast<char>('A' + i % 26);  // more than one read(2)
  std::ofstream(path, std::ios::binary) << text;
  const secret_string got = read_secret_file(path.string());
  EXPECT_EQ(std::string(got.begin(), got.end()), text);
  std::filesystem::remove(path);
  try {
    read_secret_file(path.string());
    FAIL() << "a missing file was read";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vmsgate::tls
