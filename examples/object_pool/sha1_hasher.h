// sha1_hasher.h — a SHA-1 hasher that is expensive to create and not safe to share.
//
// Seed 002's C# program hashed on several threads with one shared SHA1CryptoServiceProvider and
// sometimes printed wrong hashes. This is the same kind of object on Windows CNG (bcrypt): the
// running hash lives in the object, so update() from two threads mixes their data, and opening it
// loads and initialises a crypto provider, so creating one per call is wasteful. That combination
// is what an object pool is for (see main.cc).
#ifndef MODREF_EXAMPLES_OBJECT_POOL_SHA1_HASHER_H_
#define MODREF_EXAMPLES_OBJECT_POOL_SHA1_HASHER_H_

#include <windows.h>

#include <bcrypt.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"

class sha1_hasher {
 public:
  using digest = std::array<std::uint8_t, 20>;

  // sha1_hasher::open()
  // Opens the SHA-1 provider and a reusable hash object. The factory the pool calls.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<sha1_hasher>> open() {
    auto hasher = std::unique_ptr<sha1_hasher>(new sha1_hasher);
    if (NTSTATUS status = ::BCryptOpenAlgorithmProvider(&hasher->algorithm_, BCRYPT_SHA1_ALGORITHM,
                                                        nullptr, BCRYPT_HASH_REUSABLE_FLAG);
        !BCRYPT_SUCCESS(status)) {
      return failure("BCryptOpenAlgorithmProvider(SHA1)", status);
    }
    // Reusable: finish() returns the digest and leaves the object ready for the next message.
    if (NTSTATUS status = ::BCryptCreateHash(hasher->algorithm_, &hasher->hash_, nullptr, 0,
                                             nullptr, 0, BCRYPT_HASH_REUSABLE_FLAG);
        !BCRYPT_SUCCESS(status)) {
      return failure("BCryptCreateHash", status);
    }
    return hasher;
  }

  sha1_hasher(const sha1_hasher&) = delete;  // owns two CNG handles
  sha1_hasher& operator=(const sha1_hasher&) = delete;
  ~sha1_hasher() {
    if (hash_ != nullptr) ::BCryptDestroyHash(hash_);
    if (algorithm_ != nullptr) ::BCryptCloseAlgorithmProvider(algorithm_, 0);
  }

  // sha1_hasher::update(data)
  // Adds `data` to the running hash. Not thread-safe: the running hash is this object's state.
  absl::Status update(std::string_view data) {
    // BCryptHashData does not modify the input; its parameter is non-const for historical reasons.
    auto* bytes = reinterpret_cast<PUCHAR>(const_cast<char*>(data.data()));
    const NTSTATUS status = ::BCryptHashData(hash_, bytes, static_cast<ULONG>(data.size()), 0);
    return BCRYPT_SUCCESS(status) ? absl::OkStatus() : failure("BCryptHashData", status);
  }

  // sha1_hasher::finish()
  // Returns the hash of everything added since the last finish() and starts over.
  absl::StatusOr<digest> finish() {
    digest out{};
    const NTSTATUS status =
        ::BCryptFinishHash(hash_, out.data(), static_cast<ULONG>(out.size()), 0);
    if (!BCRYPT_SUCCESS(status)) return failure("BCryptFinishHash", status);
    return out;
  }

 private:
  sha1_hasher() = default;

  static absl::Status failure(const char* what, NTSTATUS status) {
    return absl::InternalError(absl::StrFormat("%s failed with NTSTATUS 0x%08X", what,
                                               static_cast<std::uint32_t>(status)));
  }

  BCRYPT_ALG_HANDLE algorithm_ = nullptr;
  BCRYPT_HASH_HANDLE hash_ = nullptr;
};

#endif  // MODREF_EXAMPLES_OBJECT_POOL_SHA1_HASHER_H_
