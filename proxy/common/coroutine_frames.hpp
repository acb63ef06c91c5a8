#pragma once
// Included by a source file whose coroutines Asio runs: GCC 12 reports that a
// coroutine frame, which Asio allocates with its recycling allocator
// (aligned_alloc), is freed by the frame's own operator delete, which does return
// it to that allocator. A false positive of its inlining, not a mismatch; Clang and
// GCC 13 do not report it. Off for the rest of the including file.

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
